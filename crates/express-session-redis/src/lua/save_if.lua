-- save_if: replace a session record only if it is still the version that was read, in one round trip. Kept short
-- on purpose: the cost of a script grows with its arguments and its redis.calls, so the common case (a live record
-- saved with a TTL) is 3 arguments, one GET and one SET.
--
-- KEYS[1]  the session's key (prefix .. id)
-- ARGV[1]  the JSON text that was read (the version)
-- ARGV[2]  the new JSON text
-- ARGV[3]  the new TTL in whole seconds, as connect-redis computes it; '' writes without a TTL (disableTTL); '0'
--          (a TTL <= 0) deletes the key instead, as connect-redis's set does
-- ARGV[4]  only when the text that was read says the record has expired (its cookie.expires is at or before the
--          store's clock): the least PTTL in ms the key must have left, expires + 1000 - now (see below)
--
-- Returns 1 (saved), 0 (conflict: another write came in between) or -1 (gone: destroyed or expired).
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then
  if current then
    return 0
  end
  return -1
end
if ARGV[4] then
  -- The stored text says the record has expired: it is gone, unless its key was touched past that instant (a
  -- touch moves only the key's TTL, as connect-redis's does), which puts the key's own expiry at least a second
  -- past cookie.expires: now + pttl >= expires + 1000.
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl < 0 or pttl < tonumber(ARGV[4]) then
    return -1
  end
end
local ttl = ARGV[3]
if ttl == '' then
  redis.call('SET', KEYS[1], ARGV[2])
elseif ttl == '0' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
end
return 1

-- save_if: replace a session record only if it is still the version that was read, in one round trip. Kept short
-- on purpose: the cost of a script grows with its arguments and its redis.calls, so the common case (a live record
-- saved with a TTL, on one server) is 3 arguments, one GET and one SET.
--
-- KEYS[1]  the session's key (prefix .. id)
-- KEYS[2]  on a Redis Cluster only: the call's token key (same slot; see guard.rs), recorded when the script
--          writes, so that a resend of the same call whose first send wrote answers 1 rather than 0
-- ARGV[1]  the JSON text that was read (the version)
-- ARGV[2]  the new JSON text
-- ARGV[3]  the new TTL in whole seconds, as connect-redis computes it; '' writes without a TTL (disableTTL); '0'
--          (a TTL <= 0) deletes the key instead, as connect-redis's set does
-- ARGV[4]  only when the text that was read says the record has expired (its cookie.expires is at or before the
--          store's clock): the least PTTL in ms the key must have left, expires + 1000 - now (see below)
-- With KEYS[2], ARGV[4] is the token key's lifetime in ms, and the least PTTL, if any, moves to ARGV[5].
--
-- Returns 1 (saved), 0 (conflict: another write came in between) or -1 (gone: destroyed or expired).
local current = redis.call('GET', KEYS[1])
local token = KEYS[2]
if current ~= ARGV[1] then
  if token and redis.call('EXISTS', token) == 1 then
    -- An earlier send of this very call wrote (its reply was lost, and the cluster connection sent it again).
    return 1
  end
  if current then
    return 0
  end
  return -1
end
local min_pttl = ARGV[4]
if token then
  min_pttl = ARGV[5]
end
if min_pttl then
  -- The stored text says the record has expired: it is gone, unless its key was touched past that instant (a
  -- touch moves only the key's TTL, as connect-redis's does), which puts the key's own expiry at least a second
  -- past cookie.expires: now + pttl >= expires + 1000.
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl < 0 or pttl < tonumber(min_pttl) then
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
if token then
  redis.call('SET', token, '1', 'PX', ARGV[4])
end
return 1

-- save_if: replace a session record only if it is still the version that was read, in one round trip.
--
-- KEYS[1]  the session's key (prefix .. id)
-- ARGV[1]  the JSON text that was read (the version)
-- ARGV[2]  the new JSON text
-- ARGV[3]  the new TTL in seconds, as connect-redis computes it; '' writes without a TTL (disableTTL); a TTL
--          <= 0 deletes the key instead, as connect-redis's set does
-- ARGV[4]  the read record's cookie.expires in ms since the epoch, '' when it has none
-- ARGV[5]  the store's clock, ms since the epoch
--
-- Returns 1 (saved), 0 (conflict: another write came in between) or -1 (gone: destroyed or expired).
local current = redis.call('GET', KEYS[1])
if not current then
  return -1
end
if current ~= ARGV[1] then
  return 0
end
if ARGV[4] ~= '' then
  -- The stored text says the record has expired: it is gone, unless its key was touched past that instant
  -- (a touch moves only the key's TTL, as connect-redis's does), which puts the key's own expiry at least a
  -- second past cookie.expires.
  local expires = tonumber(ARGV[4])
  local now = tonumber(ARGV[5])
  if expires <= now then
    local pttl = redis.call('PTTL', KEYS[1])
    if pttl < 0 or now + pttl < expires + 1000 then
      return -1
    end
  end
end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  local ttl = tonumber(ARGV[3])
  if ttl > 0 then
    redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
  else
    redis.call('DEL', KEYS[1])
  end
end
return 1

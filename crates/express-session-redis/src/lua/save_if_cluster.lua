-- save_if on a Redis Cluster: save_if.lua (read it first), plus the call's write token (see guard.rs). When the
-- script writes, it records the token under the call's token key; before anything else it looks for that token:
-- found, an earlier send of this very call wrote (its reply was lost, and the cluster connection sent the call
-- again), and the answer is 1, as that send's was, without writing again (even when the record is back to the
-- version that was read: another request wrote it since, and its write must stand). One server runs save_if.lua,
-- whose connection never sends a call twice.
--
-- KEYS[1]  the session's key (prefix .. id)
-- KEYS[2]  the call's token key (in KEYS[1]'s slot)
-- ARGV[1]  the JSON text that was read (the version)
-- ARGV[2]  the new JSON text
-- ARGV[3]  the new TTL in whole seconds ('' no TTL, '0' deletes the key), as in save_if.lua
-- ARGV[4]  the token key's lifetime in ms
-- ARGV[5]  only when the text that was read says the record has expired: the least PTTL in ms the key must have
--          left, as save_if.lua's ARGV[4]
--
-- Returns 1 (saved), 0 (conflict: another write came in between) or -1 (gone: destroyed or expired).
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 1
end
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then
  if current then
    return 0
  end
  return -1
end
if ARGV[5] then
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl < 0 or pttl < tonumber(ARGV[5]) then
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
redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
return 1

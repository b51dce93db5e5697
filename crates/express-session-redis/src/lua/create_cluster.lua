-- create on a Redis Cluster: connect-redis's write only if the key is absent (`SET key json [EX ttl] NX`, what
-- the store sends by itself on one server), recording the call's token, so that a resend of the same call whose
-- first send wrote answers 1 rather than 0, and writes nothing (the record may have been destroyed since: it stays
-- destroyed) (see guard.rs).
--
-- KEYS[1]  the session's key (prefix .. id)
-- KEYS[2]  the call's token key (same slot)
-- ARGV[1]  the JSON text
-- ARGV[2]  the TTL in whole seconds; '' writes without a TTL (disableTTL)
-- ARGV[3]  the token key's lifetime in ms
--
-- Returns 1 (created) or 0 (the key exists).
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 1
end
local created
if ARGV[2] == '' then
  created = redis.call('SET', KEYS[1], ARGV[1], 'NX')
else
  created = redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX')
end
if created then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return 1
end
return 0

-- create of a record that names an owner: `SET key json [EX ttl] NX` (create's command for a record without
-- one), and when it wrote, the id into the owner's set (see prelude.lua).
--
-- KEYS[1]  the session's key
-- KEYS[2]  the owner's set
-- ARGV[1]  the JSON text
-- ARGV[2]  the TTL in whole seconds; '' writes without a TTL (disableTTL)
-- ARGV[3]  the session id (the set's member)
--
-- Returns 1 (created) or 0 (the key exists).
local created
if ARGV[2] == '' then
  created = redis.call('SET', KEYS[1], ARGV[1], 'NX')
else
  created = redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX')
end
if not created then
  return 0
end
if ARGV[2] == '' then
  index_add(KEYS[2], ARGV[3], nil)
else
  index_add(KEYS[2], ARGV[3], tonumber(ARGV[2]) * 1000)
end
return 1

-- set of a record that names an owner: connect-redis's `SET key json [EX ttl]`, and the id into the owner's set
-- (see prelude.lua). (A record whose TTL is not positive is a plain `DEL`, sent without this script.)
--
-- KEYS[1]  the session's key
-- KEYS[2]  the owner's set
-- ARGV[1]  the JSON text
-- ARGV[2]  the TTL in whole seconds; '' writes without a TTL (disableTTL)
-- ARGV[3]  the session id
--
-- Returns 1.
if ARGV[2] == '' then
  redis.call('SET', KEYS[1], ARGV[1])
  index_add(KEYS[2], ARGV[3], nil)
else
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  index_add(KEYS[2], ARGV[3], tonumber(ARGV[2]) * 1000)
end
return 1

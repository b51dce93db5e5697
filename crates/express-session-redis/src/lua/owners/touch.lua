-- touch of a record that names an owner: connect-redis's `EXPIRE key ttl`, and when the key was there, the id
-- into the owner's set, whose TTL follows (see prelude.lua).
--
-- KEYS[1]  the session's key
-- KEYS[2]  the owner's set
-- ARGV[1]  the TTL in whole seconds
-- ARGV[2]  the session id
--
-- Returns 1 (touched) or 0 (gone).
if redis.call('EXPIRE', KEYS[1], ARGV[1]) ~= 1 then
  return 0
end
index_add(KEYS[2], ARGV[2], tonumber(ARGV[1]) * 1000)
return 1

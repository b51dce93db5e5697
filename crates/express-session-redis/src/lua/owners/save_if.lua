-- save_if of a record that names an owner: save_if.lua (read it first), and when it wrote, the id into the
-- owner's set (see prelude.lua).
--
-- KEYS[1]  the session's key
-- KEYS[2]  the owner's set
-- ARGV[1]  the JSON text that was read (the version)
-- ARGV[2]  the new JSON text
-- ARGV[3]  the new TTL in whole seconds ('' no TTL, '0' deletes the key), as in save_if.lua
-- ARGV[4]  the session id
-- ARGV[5]  only when the text that was read says the record has expired: the least PTTL in ms the key must have
--          left, as save_if.lua's ARGV[4]
--
-- Returns 1 (saved), 0 (conflict) or -1 (gone).
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
  index_add(KEYS[2], ARGV[4], nil)
elseif ttl == '0' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
  index_add(KEYS[2], ARGV[4], tonumber(ttl) * 1000)
end
return 1

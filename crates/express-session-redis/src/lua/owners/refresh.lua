-- refresh on a store with an owner index: refresh.lua (read it first), and when the record names an owner, the id
-- into the owner's set, whose TTL follows (see prelude.lua).
--
-- KEYS[1]  the session's key
-- ARGV[1]  the store's clock, ms since the epoch
-- ARGV[2]  the store's TTL option in seconds (for records without cookie.expires)
-- ARGV[3]  the owner key (the data key that names a session's owner)
-- ARGV[4]  the owner sets' prefix: an owner's set is this followed by the owner
-- ARGV[5]  the session id
--
-- Returns 1 (touched) or -1 (gone: missing, expired, or not a record express-session can read).
local json = redis.call('GET', KEYS[1])
if not json then
  return -1
end
local ok, record = pcall(cjson.decode, json)
if not ok or type(record) ~= 'table' or type(record.cookie) ~= 'table' then
  return -1
end
local now = tonumber(ARGV[1])
if not is_live(record, KEYS[1], now) then
  return -1
end
local ttl = ARGV[2]
local max_age = record.cookie.originalMaxAge
if type(max_age) == 'number' then
  if max_age >= 0 then
    max_age = math.floor(max_age)
  else
    max_age = math.ceil(max_age)
  end
  ttl = math.ceil(max_age / 1000)
end
redis.call('EXPIRE', KEYS[1], ttl)
local owner = owner_text(record, ARGV[3])
if owner then
  index_add(ARGV[4] .. owner, ARGV[5], tonumber(ttl) * 1000)
end
return 1

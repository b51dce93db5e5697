-- A batch of an owner's set, checked against the members' current records, atomically: sessions_of reads them,
-- end_sessions_of and end_session_of end them. A member whose key is gone, or whose record names another owner
-- (or is not a session record), leaves the set here, in the same script as the check, so that no write that
-- names the owner again can slip in between.
--
-- KEYS[1]     the owner's set
-- KEYS[2..]   the members' session keys (prefix .. id)
-- ARGV[1]     'end' (delete the members whose record names the owner) or 'list' (return them)
-- ARGV[2]     the owner key
-- ARGV[3]     the owner
-- ARGV[4]     the store's clock, ms since the epoch
-- ARGV[5]     the length of the key prefix in bytes (a member is its key less the prefix)
--
-- Returns, for 'end': { the number of live sessions ended, then the ids of members whose record cjson cannot
-- decode (the store decides those itself) }; for 'list': { id, json, pttl } for each member whose record names
-- the owner or cannot be decoded, one after the other.
local set, owner_key, owner = KEYS[1], ARGV[2], ARGV[3]
local ending = ARGV[1] == 'end'
local now, skip = tonumber(ARGV[4]), tonumber(ARGV[5])
local ended, out = 0, {}
for i = 2, #KEYS do
  local key = KEYS[i]
  local id = string.sub(key, skip + 1)
  local json = redis.call('GET', key)
  if not json then
    redis.call('SREM', set, id)
  else
    local ok, record = pcall(cjson.decode, json)
    if not ok then
      out[#out + 1] = id
      if not ending then
        out[#out + 1] = json
        out[#out + 1] = redis.call('PTTL', key)
      end
    elseif type(record) ~= 'table' or type(record.cookie) ~= 'table' or owner_text(record, owner_key) ~= owner then
      redis.call('SREM', set, id)
    elseif ending then
      -- A record past its expiry is deleted too (nothing can read it), but not counted.
      if is_live(record, key, now) then
        ended = ended + 1
      end
      redis.call('DEL', key)
      redis.call('SREM', set, id)
    else
      out[#out + 1] = id
      out[#out + 1] = json
      out[#out + 1] = redis.call('PTTL', key)
    end
  end
end
if ending then
  table.insert(out, 1, ended)
end
return out

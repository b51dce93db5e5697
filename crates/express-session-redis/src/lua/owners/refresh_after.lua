-- refresh_after on a store with an owner index: refresh_after.lua's decision (refresh.lua word for word, then the
-- interval), then owners/refresh.lua's owner. A fresh record (0) writes nothing, except the id into its owner's
-- set when it is missing there (a record written by another app, not yet indexed): a session must never escape
-- end_sessions_of.
--
-- KEYS[1]  the session's key
-- ARGV[1]  the store's clock, ms since the epoch
-- ARGV[2]  the store's TTL option in seconds (for records without cookie.expires)
-- ARGV[3]  the owner key (the data key that names a session's owner)
-- ARGV[4]  the owner sets' prefix: an owner's set is this followed by the owner
-- ARGV[5]  the session id
-- ARGV[6]  the interval, ms
--
-- Returns 1 (touched), 0 (fresh) or -1 (gone).
local json = redis.call('GET', KEYS[1])
if not json then
  return -1
end
local ok, record = pcall(cjson.decode, json)
if not ok or type(record) ~= 'table' or type(record.cookie) ~= 'table' then
  return -1
end
local cookie = record.cookie

local expires = cookie.expires
if type(expires) == 'string' then
  -- Date#toJSON() text (YYYY-MM-DDTHH:MM:SS.sssZ) to ms since the epoch (inline rather than a local function: a
  -- closure would be made on every call); anything else counts as no expiry.
  local y, mo, d, h, mi, s, frac = string.match(expires, '^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(%.?%d*)Z$')
  if y then
    y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
    if mo <= 2 then
      y = y - 1
    end
    local era = math.floor(y / 400)
    local yoe = y - era * 400
    local doy = math.floor((153 * ((mo + 9) % 12) + 2) / 5) + d - 1
    local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
    local days = era * 146097 + doe - 719468
    local ms = 0
    if #frac > 1 then
      ms = math.floor(tonumber('0' .. frac) * 1000 + 0.5)
    end
    expires = ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60000 + tonumber(s) * 1000 + ms
  else
    expires = nil
  end
elseif type(expires) ~= 'number' then
  expires = nil
end
if expires ~= nil then
  local now = tonumber(ARGV[1])
  if expires <= now then
    -- Expired by its text, unless a touch moved the key's expiry a second or more past it (see save_if.lua).
    local pttl = redis.call('PTTL', KEYS[1])
    if pttl < 0 or now + pttl < expires + 1000 then
      return -1
    end
  end
end

-- The TTL option is passed on as the text it came as: a Lua number given to redis.call is formatted with
-- sprintf, which costs more than the rest of the call.
local ttl = ARGV[2]
local max_age = cookie.originalMaxAge
if type(max_age) == 'number' then
  if max_age >= 0 then
    max_age = math.floor(max_age)
  else
    max_age = math.ceil(max_age)
  end
  ttl = math.ceil(max_age / 1000)
end
local ttl_ms = tonumber(ttl) * 1000
local interval = tonumber(ARGV[6])
local fresh = ttl_ms > interval and redis.call('PTTL', KEYS[1]) > ttl_ms - interval
if not fresh then
  redis.call('EXPIRE', KEYS[1], ttl)
end

-- The owner (as owner_text in prelude.lua, inline: this script runs on every unused request, and a function made
-- per call costs), and index_add's rule for its set.
local owner = record[ARGV[3]]
local kind = type(owner)
if kind == 'number' then
  if owner == math.floor(owner) and owner >= -9007199254740991 and owner <= 9007199254740991 then
    owner = string.format('%d', owner)
  else
    owner = nil
  end
elseif kind ~= 'string' or #owner == 0 or #owner > 255 then
  owner = nil
end
if owner and ttl_ms > 0 then
  local set = ARGV[4] .. owner
  if not fresh or redis.call('SISMEMBER', set, ARGV[5]) == 0 then
    local pttl = redis.call('PTTL', set)
    redis.call('SADD', set, ARGV[5])
    if pttl == -2 or (pttl >= 0 and pttl < ttl_ms) then
      redis.call('PEXPIRE', set, ttl_ms)
    end
  end
end
if fresh then
  return 0
end
return 1

-- refresh_after: refresh.lua, word for word (read it first), then `touch_after`'s interval: the EXPIRE is skipped
-- when the key's PTTL says it was refreshed less than the interval ago (pttl > ttl_ms - interval_ms), for a TTL
-- longer than the interval. refresh.lua is kept as it is (its script hash is known).
--
-- KEYS[1]  the session's key
-- ARGV[1]  the store's clock, ms since the epoch
-- ARGV[2]  the store's TTL option in seconds (for records without cookie.expires)
-- ARGV[3]  the interval, ms
--
-- Returns 1 (touched), 0 (fresh: live, refreshed within the interval, nothing written) or -1 (gone: missing,
-- expired, or not a record express-session can read).
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
local interval = tonumber(ARGV[3])
if ttl_ms > interval and redis.call('PTTL', KEYS[1]) > ttl_ms - interval then
  return 0
end
redis.call('EXPIRE', KEYS[1], ttl)
return 1

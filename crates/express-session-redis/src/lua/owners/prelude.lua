-- The owner index's helpers, put in front of each of its scripts (see owners.rs). The index is one set per owner,
-- of session ids; it is a superset: whoever reads it checks each member's record.

-- Adds `id` to the owner's `set` and makes the set live at least as long as the member's key: `ttl_ms` is the
-- key's TTL in ms, nil when the key has none (disableTTL: the set gets none either). A set's TTL is only ever
-- raised, so it expires after its last member (with the members' TTLs written here). A TTL of zero or less (a
-- key that a write just deleted) indexes nothing.
local function index_add(set, id, ttl_ms)
  if ttl_ms ~= nil and ttl_ms <= 0 then
    return
  end
  local pttl = redis.call('PTTL', set)
  redis.call('SADD', set, id)
  if ttl_ms == nil then
    if pttl >= 0 then
      redis.call('PERSIST', set)
    end
  elseif pttl == -2 or (pttl >= 0 and pttl < ttl_ms) then
    redis.call('PEXPIRE', set, ttl_ms)
  end
end

-- The owner a decoded record names under `key`, as express_session::store::owner_of reads it: a string of 1 to 255
-- bytes, or an integer within JavaScript's safe range, in decimal; else nil.
local function owner_text(record, key)
  local owner = record[key]
  local kind = type(owner)
  if kind == 'string' then
    if #owner > 0 and #owner <= 255 then
      return owner
    end
  elseif kind == 'number' then
    if owner == math.floor(owner) and owner >= -9007199254740991 and owner <= 9007199254740991 then
      return string.format('%d', owner)
    end
  end
  return nil
end

-- A cookie.expires value (Date#toJSON() text, or a number) in ms since the epoch; nil for none (as refresh.lua).
local function expires_ms(expires)
  if type(expires) == 'number' then
    return expires
  end
  if type(expires) ~= 'string' then
    return nil
  end
  local y, mo, d, h, mi, s, frac = string.match(expires, '^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(%.?%d*)Z$')
  if not y then
    return nil
  end
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
  return ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60000 + tonumber(s) * 1000 + ms
end

-- Whether the decoded record stored at `key` is live at `now` (see save_if.lua): its cookie.expires is ahead, or
-- a touch moved its key's expiry a second or more past it.
local function is_live(record, key, now)
  local expires = expires_ms(record.cookie.expires)
  if expires == nil or expires > now then
    return true
  end
  local pttl = redis.call('PTTL', key)
  return pttl >= 0 and now + pttl >= expires + 1000
end

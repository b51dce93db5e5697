-- The record and its key's remaining lifetime, read together: what `get` needs to decide whether a record
-- whose cookie.expires has passed was touched since (a touch moves only the key's TTL).
--
-- KEYS[1]  the session's key
--
-- Returns nil when the key is missing, else { json, pttl in ms (-1: no TTL) }.
local json = redis.call('GET', KEYS[1])
if not json then
  return false
end
return { json, redis.call('PTTL', KEYS[1]) }

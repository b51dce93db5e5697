-- reindex: a page of sessions found naming an owner, into their owners' sets, each set's TTL at least its
-- member's key's (see prelude.lua). A key gone since it was read is skipped.
--
-- KEYS     pairs: a session's key, then its owner's set
-- ARGV     the session ids, one per pair
--
-- Returns the number of sessions indexed.
local indexed = 0
for i = 1, #ARGV do
  local pttl = redis.call('PTTL', KEYS[2 * i - 1])
  if pttl ~= -2 then
    if pttl == -1 then
      index_add(KEYS[2 * i], ARGV[i], nil)
    else
      index_add(KEYS[2 * i], ARGV[i], pttl)
    end
    indexed = indexed + 1
  end
end
return indexed

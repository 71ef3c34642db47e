--[[
  One page of an index zset in (score, member) order, resuming strictly after the last entry the
  previous page returned. Keyset paging, not offsets: entries removed, added or moved while a scan
  runs (cleanup removing what it was just given, trimming, holds) never make it skip an entry that
  stayed, and ties (many results stored in the same millisecond, every "never" at +inf) page
  like any other run of entries. O(log N + page) per call.

  KEYS[1]  the index          ZSET id -> expiresAt (ebb:results:ttl or ebb:results:no-ttl)

  ARGV[1]  score of the last entry returned, exactly as this script returned it; "" to start
  ARGV[2]  member of the last entry returned
  ARGV[3]  the highest score wanted ("+inf" for all)
  ARGV[4]  page size
  ARGV[5]  the lowest score wanted, used to start ("-inf" for all)

  Returns a flat array {member, score, member, score, ...}; fewer than ARGV[4] pairs at the end.
]]
local key, afterScore, afterMember = KEYS[1], ARGV[1], ARGV[2]
local maxScore, limit = tonumber(ARGV[3]), tonumber(ARGV[4])

-- Byte order, as Redis orders members of equal score. Lua's own < follows the server's locale.
local function atOrBefore(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a <= #b
end

local start = 0
if afterScore == '' then
  if ARGV[5] ~= '-inf' then start = redis.call('ZCOUNT', key, '-inf', '(' .. ARGV[5]) end
else
  if redis.call('ZSCORE', key, afterMember) == afterScore then
    start = redis.call('ZRANK', key, afterMember) + 1
  else
    -- The last entry left or moved: find the first entry after where it was, among its equals.
    local lo = redis.call('ZCOUNT', key, '-inf', '(' .. afterScore)
    local hi = lo + redis.call('ZCOUNT', key, afterScore, afterScore)
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if atOrBefore(redis.call('ZRANGE', key, mid, mid)[1], afterMember) then lo = mid + 1 else hi = mid end
    end
    start = lo
  end
end

local page = redis.call('ZRANGE', key, start, start + limit - 1, 'WITHSCORES')
local out = {}
for i = 1, #page, 2 do
  if tonumber(page[i + 1]) > maxScore then break end
  out[#out + 1] = page[i]
  out[#out + 1] = page[i + 1]
end
return out

--[[
  The expiry remembered for one id in the compact store of expired ids (see tombstones.ts): a
  binary search of its shard's sorted records (GETRANGE, one record at a time, so a large shard
  is never copied whole), then a scan of the shard's unsorted tail.

  KEYS[1]  the shard's sorted records   <prefix>ebb:results:expired:<hh>
  KEYS[2]  the shard's tail             <prefix>ebb:results:expired:<hh>:new
  ARGV[1]  the id's record key: bytes 2-8 of sha1(id) (byte 1 is the shard)

  Returns the latest expiry found (epoch ms), or false when the id is not remembered.
]]
local fp = ARGV[1]
local SIZE = 13
local KEY = 7

local function expiry(record)
  local ms = 0
  for i = KEY + 1, SIZE do ms = ms * 256 + string.byte(record, i) end
  return ms
end

-- Byte order, as Node's Buffer.compare sorts: Lua's < on strings follows the server's locale.
local function compare(a, b)
  for i = 1, KEY do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y and -1 or 1 end
  end
  return 0
end

local best = false
local n = math.floor(redis.call('STRLEN', KEYS[1]) / SIZE)
local lo, hi = 0, n - 1
while lo <= hi do
  local mid = math.floor((lo + hi) / 2)
  local record = redis.call('GETRANGE', KEYS[1], mid * SIZE, mid * SIZE + SIZE - 1)
  local c = compare(record, fp)
  if c == 0 then
    best = expiry(record)
    break
  elseif c < 0 then
    lo = mid + 1
  else
    hi = mid - 1
  end
end

local tail = redis.call('GET', KEYS[2])
if tail then
  local from = 1
  while true do
    local at = string.find(tail, fp, from, true)
    if not at then break end
    if (at - 1) % SIZE == 0 then
      local ms = expiry(string.sub(tail, at, at + SIZE - 1))
      if not best or ms > best then best = ms end
    end
    from = at + 1
  end
end
return best

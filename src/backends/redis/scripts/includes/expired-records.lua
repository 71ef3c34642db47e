--[[
  The compact records of result expiries (tombstones.ts): 12 bytes per id, bytes 2-7 of sha1(id)
  then the expiry in epoch ms as 6 big-endian bytes, in 256 shards by the first byte of sha1(id):
  <prefix>ebb:results:expired:<hh> sorted, <prefix>ebb:results:expired:<hh>:new appended since
  the shard's last merge. A default result (no tier, no hold, ready, with a TTL) is indexed by its
  record alone; other results have ttl/no-ttl index entries, and an expired ttl-index entry is
  moved here by compaction. Shard keys are derived here from the ttl index's name (standalone
  Redis, as the rest of the backend).
]]
local RECORD_SIZE, RECORD_KEY = 12, 6

-- "<prefix>ebb:results:expired:" from "<prefix>ebb:results:ttl".
local function recordsBase(ttlIndexKey)
  return string.sub(ttlIndexKey, 1, #ttlIndexKey - 3) .. 'expired:'
end

-- The id's shard (two hex digits) and record key (6 bytes).
local function recordKeyOf(id)
  local hex = redis.sha1hex(id)
  local key = {}
  for j = 3, 14, 2 do key[#key + 1] = string.char(tonumber(string.sub(hex, j, j + 1), 16)) end
  return string.sub(hex, 1, 2), table.concat(key)
end

local function appendRecord(base, id, ms)
  local shard, key = recordKeyOf(id)
  local bytes = {}
  ms = tonumber(ms)
  for i = 6, 1, -1 do
    bytes[i] = string.char(ms % 256)
    ms = math.floor(ms / 256)
  end
  redis.call('APPEND', base .. shard .. ':new', key .. table.concat(bytes))
  return shard
end

local function recordExpiry(record)
  local ms = 0
  for i = RECORD_KEY + 1, RECORD_SIZE do ms = ms * 256 + string.byte(record, i) end
  return ms
end

-- Byte order, as Node's Buffer.compare sorts: Lua's < on strings follows the server's locale.
local function compareKeys(a, b)
  for i = 1, RECORD_KEY do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y and -1 or 1 end
  end
  return 0
end

-- Call visit(key, offset, expiry) for each live record of an id: the one in the shard's sorted
-- part (a binary search, GETRANGE a record at a time: a large shard is never copied whole), then
-- each in its tail (a scan). offset is 0-based, in bytes. Returns the id's shard.
local function eachRecord(base, id, visit)
  local shard, key = recordKeyOf(id)
  local sorted, tailKey = base .. shard, base .. shard .. ':new'
  local lo, hi = 0, math.floor(redis.call('STRLEN', sorted) / RECORD_SIZE) - 1
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    local record = redis.call('GETRANGE', sorted, mid * RECORD_SIZE, mid * RECORD_SIZE + RECORD_SIZE - 1)
    local c = compareKeys(record, key)
    if c == 0 then
      local ms = recordExpiry(record)
      if ms > 0 then visit(sorted, mid * RECORD_SIZE, ms) end
      break
    elseif c < 0 then
      lo = mid + 1
    else
      hi = mid - 1
    end
  end
  local tail = redis.call('GET', tailKey)
  local from = 1
  while tail do
    local at = string.find(tail, key, from, true)
    if not at then break end
    if (at - 1) % RECORD_SIZE == 0 then
      local ms = recordExpiry(string.sub(tail, at, at + RECORD_SIZE - 1))
      if ms > 0 then visit(tailKey, at - 1, ms) end
    end
    from = at + 1
  end
  return shard
end

-- The latest expiry recorded for an id (epoch ms), or false.
local function findRecord(base, id)
  local best = false
  eachRecord(base, id, function(_, _, ms)
    if not best or ms > best then best = ms end
  end)
  return best
end

-- Cancel every record of an id (a result removed on purpose reads unknown, not EXPIRED): each one's
-- expiry is overwritten with 0 in place, which reads as no record and is dropped by the next merge.
-- A later store appends a new record, which counts again. Bumps the shard's generation, so a
-- merge in flight gives up (swap-tombstones-3.lua). Returns how many were cancelled.
local function cancelRecords(base, id)
  local zero = string.rep('\0', RECORD_SIZE - RECORD_KEY)
  local cancelled = 0
  local shard = eachRecord(base, id, function(key, offset)
    redis.call('SETRANGE', key, offset + RECORD_KEY, zero)
    cancelled = cancelled + 1
  end)
  -- A merge that read this shard before the cancel must not write the old records back.
  if cancelled > 0 then redis.call('HINCRBY', base .. 'gen', shard, 1) end
  return cancelled
end

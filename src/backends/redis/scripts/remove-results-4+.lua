--[[
  Remove a batch of results that cleanup or archive decided to remove, re-checking each one here,
  atomically: a value is removed only if it is still the result that was scanned (same status and
  date_done) and is not held. Anything else is kept and reported as kept. UNLINK, never DEL: a
  large value is freed off the main thread.

  KEYS[1]    ttl index      ZSET id -> expiresAt
  KEYS[2]    no-ttl index   ZSET
  KEYS[3]    info           HASH id -> "<base-32 flags digit><tier>" (see index-info.ts)
  KEYS[4]    archived       HASH id -> "<tombstone>|<archived at>|<archive file>"
  KEYS[4+i]  value key of the i-th result  <prefix>celery-task-meta-<id>

  ARGV[1]       "<archived at, epoch ms>|<archive file>" when the batch is removed by an archive
                (each tombstone then says where the result went), else ""
  ARGV[3i-1]    task id of the i-th result
  ARGV[3i]      its status as scanned
  ARGV[3i+1]    "<date_done as scanned>|<tombstone>": date_done as naive UTC with 6 fractional
                digits ("" for none), and the expiry to remember the id by in the ttl index
                (epoch ms) so it reads EXPIRED for the grace window, or "" to forget it entirely

  Returns an array with 1 (removed) or 0 (kept) per result, in order.
]]
--@include "includes/index-info.lua"
--@include "includes/expired-records.lua"

local function isHeld(id)
  return hasFlag((readInfo(KEYS[3], id)), HELD)
end

-- date_done as Ebb writes it. Celery's isoformat() drops a zero fraction and may add +00:00.
local function canonical(doneAt)
  if type(doneAt) ~= 'string' then return '' end
  local date, time, frac, zone = string.match(doneAt, '^(%d%d%d%d%-%d%d%-%d%d)[T ](%d%d:%d%d:%d%d)%.?(%d*)(.*)$')
  if not date or #frac > 6 or not (zone == '' or zone == 'Z' or zone == '+00:00') then return nil end
  return date .. 'T' .. time .. '.' .. frac .. string.rep('0', 6 - #frac)
end

local function unchanged(value, status, doneAt)
  local ok, meta = pcall(cjson.decode, value)
  -- A value cjson cannot read is not provably the one scanned: keep it.
  return ok and type(meta) == 'table' and meta.status == status and canonical(meta.date_done) == doneAt
end

local out = {}
local archive = ARGV[1]
for i = 1, #KEYS - 4 do
  local id, status = ARGV[3 * i - 1], ARGV[3 * i]
  local doneAt, tombstone = string.match(ARGV[3 * i + 1], '^(.*)|(.*)$')
  local value = redis.call('GET', KEYS[4 + i])
  if value and not isHeld(id) and unchanged(value, status, doneAt) then
    redis.call('UNLINK', KEYS[4 + i])
    redis.call('ZREM', KEYS[2], id)
    -- A default result's record says when it would have expired; the removal decides instead.
    cancelRecords(recordsBase(KEYS[1]), id)
    if tombstone ~= '' then
      -- Trimming drops the entry (and its info and archive location) once the grace window is over.
      redis.call('ZADD', KEYS[1], tombstone, id)
      if archive ~= '' then
        -- Prefixed with the tombstone: a reader trusts it only while the ttl entry is this one.
        redis.call('HSET', KEYS[4], id, tombstone .. '|' .. archive)
      else
        redis.call('HDEL', KEYS[4], id)
      end
    else
      redis.call('ZREM', KEYS[1], id)
      redis.call('HDEL', KEYS[3], id)
      redis.call('HDEL', KEYS[4], id)
    end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out

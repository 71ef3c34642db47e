--[[
  Put a legal hold on one stored result, or release it. Held: no TTL (PERSIST) and indexed in
  no-ttl, so neither Redis nor trimming can drop it. Released: a result whose action is delete
  gets its TTL back, counted to its own expiresAt (at least 1 ms, so one already past it goes now
  and the ttl index remembers it as EXPIRED).

  KEYS[1]  value key      <prefix>celery-task-meta-<id>
  KEYS[2]  ttl index      ZSET
  KEYS[3]  no-ttl index   ZSET
  KEYS[4]  info           HASH id -> "<base-32 flags digit><tier>" (see index-info.ts)

  ARGV[1]  task id
  ARGV[2]  "1" to hold, "0" to release
  ARGV[3]  now, epoch ms of the store clock

  Returns 1 when the result exists (hold set or released), 0 when there is no such value.
]]
--@include "includes/index-info.lua"
--@include "includes/expired-records.lua"

local id = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end

local flags, tier = readInfo(KEYS[4], id)
local wasHeld = hasFlag(flags, HELD)
local now = tonumber(ARGV[3])

if ARGV[2] == '1' then
  flags = withFlag(flags, HELD)
  local score = redis.call('ZSCORE', KEYS[2], id)
  local record = not score and not redis.call('ZSCORE', KEYS[3], id) and findRecord(recordsBase(KEYS[2]), id)
  if score then
    indexIn(KEYS[3], KEYS[2], id, score)
  elseif record then
    -- A default result, indexed by its record alone: it joins the no-ttl index at its expiry.
    redis.call('ZADD', KEYS[3], record, id)
  elseif not redis.call('ZSCORE', KEYS[3], id) then
    -- Written by Python Celery, so not indexed: remember when its TTL would have ended (read
    -- before PERSIST drops it), so that releasing the hold can give it back; flag 16 keeps
    -- saying who wrote it.
    flags = withFlag(flags, FOREIGN)
    local pttl = redis.call('PTTL', KEYS[1])
    -- PTTL 0: its TTL ran out during this script (Redis 7.0 still shows the value): not permanent.
    redis.call('ZADD', KEYS[3], pttl >= 0 and tostring(now + pttl) or '+inf', id)
  end
  redis.call('PERSIST', KEYS[1])
else
  if wasHeld then flags = flags - HELD end
  local score = redis.call('ZSCORE', KEYS[3], id)
  -- ZSCORE spells never "inf"; only a finite expiry gives a TTL back.
  local expiresAt = score and score ~= 'inf' and tonumber(score)
  if expiresAt and not hasFlag(flags, ARCHIVE) then
    redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(expiresAt - now)))
    indexIn(KEYS[2], KEYS[3], id, score)
  end
end

writeInfo(KEYS[4], id, flags, tier)
return 1

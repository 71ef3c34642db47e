--[[
  Claim beat ticks for one entry, all or nothing (see src/beat/schedule-store.ts, claim()).

  Applies only when the entry's state is still the one the claim was planned from, and no tick it
  names is taken: not by a live claim key, nor by a fire still in the history (a state that moved
  back must not fire a tick twice). Every check runs before the first write, so a refused claim
  writes nothing at all; the script is atomic, so no other client can take a key in between. Each
  claim key is then SET NX PX: the (entry, tick) unique key outlives a trimmed history for the TTL.

  KEYS[1]     entry    HASH  schedule, last_tick, next_tick, fired, missed, catch_ups, last_fire
  KEYS[2]     fires    ZSET  fire JSON -> tick (the entry's history)
  KEYS[3]     unsent   ZSET  fire JSON -> claimedAt (every entry's fires not yet sent)
  KEYS[4..]   one claim key per fire, in the order of the fires in ARGV (STRING, task id)

  ARGV[1]   the last_tick the claim was planned from; "" = planned from "no state"
  ARGV[2]   the schedule it was planned from (ignored when ARGV[1] is "")
  ARGV[3]   schedule          } the state after the claim
  ARGV[4]   last_tick         }
  ARGV[5]   next_tick ("" when the schedule has no more ticks)
  ARGV[6]   ticks passed over (added to missed)
  ARGV[7]   how many of the fires are catch-ups (added to catch_ups)
  ARGV[8]   historyLimit: fires kept in the history; the lowest ticks go first, and out of unsent
  ARGV[9]   claim TTL, ms (> 0)
  ARGV[10]  now, epoch ms of the store clock: each fire's claimedAt, its score in unsent
  ARGV[11]  the newest fire's JSON record (no message), the new last_fire; "" when no fires
  ARGV[12..] three per fire, oldest first: tick, task id, fire JSON (with its message)

  Returns
    {1}                 claimed
    {0, {field, value, ...}}   refused: the entry's state as found (HGETALL; empty = no state)
]]
local entry, fires, unsent = KEYS[1], KEYS[2], KEYS[3]
local count = #KEYS - 3

local function refuse()
  return {0, redis.call('HGETALL', entry)}
end

if ARGV[1] == '' then
  if redis.call('EXISTS', entry) == 1 then return refuse() end
else
  -- Compared as the strings the store wrote: exact, with no float round trip.
  local current = redis.call('HMGET', entry, 'last_tick', 'schedule')
  if current[1] ~= ARGV[1] or current[2] ~= ARGV[2] then return refuse() end
end

for i = 1, count do
  local tick = ARGV[9 + 3 * i]
  if redis.call('EXISTS', KEYS[3 + i]) == 1 or redis.call('ZCOUNT', fires, tick, tick) > 0 then return refuse() end
end

local now = ARGV[10]
for i = 1, count do
  local tick, taskId, fire = ARGV[9 + 3 * i], ARGV[10 + 3 * i], ARGV[11 + 3 * i]
  redis.call('SET', KEYS[3 + i], taskId, 'PX', ARGV[9], 'NX')
  redis.call('ZADD', fires, tick, fire)
  redis.call('ZADD', unsent, now, fire)
end

redis.call('HSET', entry, 'schedule', ARGV[3], 'last_tick', ARGV[4], 'next_tick', ARGV[5])
-- HINCRBY by 0 still writes the field, so a new entry reads 0 rather than nothing.
redis.call('HINCRBY', entry, 'fired', count)
redis.call('HINCRBY', entry, 'missed', ARGV[6])
redis.call('HINCRBY', entry, 'catch_ups', ARGV[7])
if ARGV[11] ~= '' then redis.call('HSET', entry, 'last_fire', ARGV[11]) end

local over = redis.call('ZCARD', fires) - tonumber(ARGV[8])
if over > 0 then
  -- A fire trimmed before it was sent is dropped with its message, as the history bound says.
  for _, fire in ipairs(redis.call('ZRANGE', fires, 0, over - 1)) do
    redis.call('ZREM', unsent, fire)
  end
  redis.call('ZREMRANGEBYRANK', fires, 0, over - 1)
end
return {1}

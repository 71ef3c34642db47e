--[[
  Store one storage-history sample in its slot, only if the slot is empty, and drop the oldest
  samples (see src/beat/schedule-store.ts, addSample()). Atomic, so of two beats sampling at once
  one stores its sample and the other gets 0; the index and the samples are trimmed together.

  KEYS[1]  history index    ZSET  slot -> at
  KEYS[2]  history samples  HASH  slot -> sample JSON

  ARGV[1]  slot (floor(at / slotMs))
  ARGV[2]  at, epoch ms of the store clock
  ARGV[3]  the sample's JSON
  ARGV[4]  cutoff: samples with at < cutoff are dropped
  ARGV[5]  at most this many are dropped per call (the oldest first)

  Returns 1 when the sample was stored, 0 when its slot was taken.
]]
local index, samples = KEYS[1], KEYS[2]
local old = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. ARGV[4], 'LIMIT', 0, tonumber(ARGV[5]))
if #old > 0 then
  redis.call('ZREM', index, unpack(old))
  redis.call('HDEL', samples, unpack(old))
end
if redis.call('HSETNX', samples, ARGV[1], ARGV[3]) == 0 then return 0 end
redis.call('ZADD', index, ARGV[2], ARGV[1])
return 1

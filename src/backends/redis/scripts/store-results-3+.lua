--[[
  Store results as Celery's Redis backend does (SET [PX] then PUBLISH on the key's channel, so
  Python's AsyncResult.get() wakes up), unless a ready result is already there, and keep Ebb's index
  in step. Each store is atomic: two workers finishing the same task (at-least-once redelivery)
  store it once. One call stores the results of many tasks (a worker's tasks that finished together).

  KEYS[1]  ttl index      ZSET, results Redis expires itself
  KEYS[2]  no-ttl index   ZSET, results with no TTL (archive, never, held)
  KEYS[3]  info           HASH id -> "<base-32 flags digit><tier>" (see index-info.ts)
  KEYS[3+i] value key of the i-th result: <prefix>celery-task-meta-<id>

  ARGV     groups of seven, one per result, in the order of KEYS[4..]:
    id         task id (index member, info field)
    value      encodeResultMeta(...), the exact bytes Celery would write
    channel    to PUBLISH the value on
    expiresAt  epoch ms of the store clock, or "+inf" for never
    ttl        TTL in ms (>= 1) to set unless the result is held, or "" for no TTL (archive, never)
    flags      1 archive, 4 in progress (2 held is carried over from the existing entry; 8
               archived and 16 foreign are dropped: this is a new value, written by Ebb)
    tier       tier name, "" for none

  Returns one reply per result:
    {1, held}  stored; held is 1 when a hold on the id was kept (the value then has no TTL)
    {0, value, pttl, ttl score|false, no-ttl score|false, info|false}
               a ready result was already stored and is kept; its state is returned for the caller
]]
--@include "includes/index-info.lua"
--@include "includes/expired-records.lua"
local ttlIndex, noTtlIndex, infoKey = KEYS[1], KEYS[2], KEYS[3]
--@include "includes/store-result.lua"

local out = {}
for i = 1, #KEYS - 3 do
  local a = (i - 1) * 7
  out[i] = store(KEYS[3 + i], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7])
end
return out

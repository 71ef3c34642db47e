--[[
forget-consumer: drop a consumer's registration once every hand-off list of it is empty and it
has been gone long enough (or it is closing: no ceiling). Only if its set of lists is still the
size the caller read (lists are only ever added), so a list registered meanwhile is not orphaned.

KEYS[1]     ebb.consumers         zset  consumer id -> unix seconds of its latest blocking wait
KEYS[2]     ebb.consumer.<id>     set   the lists it waits on
KEYS[3..]   its hand-off lists, one per member of KEYS[2]

ARGV[1]  consumer id
ARGV[2]  ceiling: unix seconds; "" when the consumer itself closes
ARGV[3]  SCARD the caller read

Returns 1 forgotten, 0 left alone.
]]
if ARGV[2] ~= '' then
  local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if seen and tonumber(seen) > tonumber(ARGV[2]) then return 0 end
end
if redis.call('SCARD', KEYS[2]) ~= tonumber(ARGV[3]) then return 0 end
for k = 3, #KEYS do
  if redis.call('LLEN', KEYS[k]) > 0 then return 0 end
end
redis.call('UNLINK', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1

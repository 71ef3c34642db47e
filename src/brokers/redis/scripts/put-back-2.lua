--[[
put-back: a message a blocking wait moved into a hand-off list after its fetch had left goes
back to the serving end of the list it came from, in one step (Redis 6.0 has no LMOVE), so it
is always in one of the two.

KEYS[1]  the hand-off list  ebb.inflight.<consumer>.<list>
KEYS[2]  the list           where BRPOPLPUSH took it from

Returns 1 moved, 0 the hand-off list was empty (a fetch took it meanwhile).
]]
local raw = redis.call('RPOP', KEYS[1])
if not raw then return 0 end
redis.call('RPUSH', KEYS[2], raw)
return 1

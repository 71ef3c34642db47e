--[[
unlock: release the restore mutex only if this caller still owns it (compare-and-delete, as
kombu's redis-py Lock does), so a holder whose lock expired cannot free someone else's.

KEYS[1]  unacked_mutex
ARGV[1]  the token this caller SET with NX PX

Returns 1 released, 0 not ours (expired or taken by another).
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('UNLINK', KEYS[1])
  return 1
end
return 0

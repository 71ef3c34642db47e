--[[
refresh-mutex: keep the restore mutex for another TTL, only if this caller still owns it
(compare-and-pexpire), between the pages of a restore pass.

KEYS[1]  unacked_mutex
ARGV[1]  the token this caller SET with NX PX
ARGV[2]  the TTL in ms

Returns 1 refreshed, 0 not ours (expired or taken by another).
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0

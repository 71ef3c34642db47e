--[[
  For keys a retention scan met by SCAN: the value and PTTL of each one Ebb has no index entry for
  (Python Celery wrote it), in one call. An indexed key is reported from the index instead, so its
  value is not read here at all: on a store of Ebb's results that is nearly every key. Read-only,
  O(1) per key.

  KEYS[1]    ttl index      ZSET id -> expiresAt
  KEYS[2]    no-ttl index   ZSET
  KEYS[2+i]  the i-th key SCAN returned

  ARGV[i]    the task id in the i-th key

  Returns a flat array, two entries per key: the value (false, read as null, when the key is
  indexed or gone) and its PTTL.
]]
local out = {}
for i = 1, #ARGV do
  local id, key = ARGV[i], KEYS[2 + i]
  if redis.call('ZSCORE', KEYS[1], id) or redis.call('ZSCORE', KEYS[2], id) then
    out[2 * i - 1], out[2 * i] = false, -2
  else
    out[2 * i - 1], out[2 * i] = redis.call('GET', key), redis.call('PTTL', key)
  end
end
return out

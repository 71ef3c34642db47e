--[[
  For keys a retention scan met by SCAN: the value and PTTL of each one Ebb has no index entry for
  (Python Celery wrote it, or it is a default result of Ebb's), in one call. An indexed key is reported from the index instead, so its
  value is not read here at all: on a store of Ebb's results that is nearly every key. Read-only,
  O(1) per key.

  KEYS[1]    ttl index      ZSET id -> expiresAt
  KEYS[2]    no-ttl index   ZSET
  KEYS[2+i]  the i-th key SCAN returned

  ARGV[i]    the task id in the i-th key

  A key with a compact record (a default result Ebb wrote: includes/expired-records.lua) is Ebb's
  too, though no index holds it: its value is read here, with the record's expiry.

  Returns a flat array, three entries per key: the value (false, read as null, when the key is
  indexed or gone), its PTTL, and its record's expiry (false when it has none).
]]
--@include "includes/expired-records.lua"
local base = recordsBase(KEYS[1])
local out = {}
for i = 1, #ARGV do
  local id, key = ARGV[i], KEYS[2 + i]
  local at = 3 * i - 2
  if redis.call('ZSCORE', KEYS[1], id) or redis.call('ZSCORE', KEYS[2], id) then
    out[at], out[at + 1], out[at + 2] = false, -2, false
  else
    local value = redis.call('GET', key)
    out[at], out[at + 1] = value, redis.call('PTTL', key)
    out[at + 2] = value and findRecord(base, id) or false
  end
end
return out

--[[
  Everything about one id, in one round trip: its value, the value's PTTL, its scores in the ttl and
  no-ttl indexes, its info and archived entries, and, when neither index has it (a default result,
  or one expired long enough ago), the expiry its compact records hold, when asked for. One script, so a
  concurrent store is seen whole or not at all.

  KEYS[1]  celery-task-meta-<id>
  KEYS[2]  ttl index (its name also locates the compact records)
  KEYS[3]  no-ttl index
  KEYS[4]  info hash
  KEYS[5]  archived hash
  ARGV[1]  task id
  ARGV[2]  "1" to look in the compact records, "0" not to (a caller that only needs the value)

  Returns {value, pttl, ttl score, no-ttl score, info, archived, record expiry (epoch ms)}, each
  false (nil) when absent.
]]
--@include "includes/expired-records.lua"
local id = ARGV[1]
local ttlScore = redis.call("ZSCORE", KEYS[2], id)
local noTtlScore = redis.call("ZSCORE", KEYS[3], id)
local record = false
if ARGV[2] == "1" and not ttlScore and not noTtlScore then record = findRecord(recordsBase(KEYS[2]), id) end
return {
  redis.call("GET", KEYS[1]),
  redis.call("PTTL", KEYS[1]),
  ttlScore,
  noTtlScore,
  redis.call("HGET", KEYS[4], id),
  redis.call("HGET", KEYS[5], id),
  record,
}

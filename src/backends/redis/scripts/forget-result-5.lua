--[[
  Remove one result on purpose: its value and every index entry, so the id reads unknown (PENDING),
  not EXPIRED. When something was removed, publish a PENDING meta on the result's channel: Ebb
  waiters wake up, and Python's get() ignores a state that is not ready (it is what Celery's backend
  itself reports for an unknown id).

  KEYS[1]  value key      <prefix>celery-task-meta-<id>
  KEYS[2]  ttl index      ZSET
  KEYS[3]  no-ttl index   ZSET
  KEYS[4]  info           HASH
  KEYS[5]  archived       HASH id -> where archive --delete put the result

  ARGV[1]  task id
  ARGV[2]  channel
  ARGV[3]  the PENDING meta to publish

  Returns 1 when a value or an index entry was removed, else 0.
]]
--@include "includes/expired-records.lua"
local id = ARGV[1]
local removed = redis.call('UNLINK', KEYS[1]) + redis.call('ZREM', KEYS[2], id)
  + redis.call('ZREM', KEYS[3], id) + redis.call('HDEL', KEYS[4], id) + redis.call('HDEL', KEYS[5], id)
  + cancelRecords(recordsBase(KEYS[2]), id)
if removed == 0 then return 0 end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1

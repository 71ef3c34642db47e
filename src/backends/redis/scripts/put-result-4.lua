--[[
  Write one result as it is (restore): the value Celery's way (SET [PX] then PUBLISH on the key's
  channel) and Ebb's index entries, with the expiry the caller gives rather than one counted from
  now. A hold already on the id is kept, as store-result.lua keeps it: a hold belongs to the id.

  KEYS[1]  value key      <prefix>celery-task-meta-<id>
  KEYS[2]  ttl index      ZSET
  KEYS[3]  no-ttl index   ZSET
  KEYS[4]  info           HASH id -> "<base-32 flags digit><tier>" (see index-info.ts)

  ARGV[1]  task id
  ARGV[2]  value: encodeResultMeta(...)
  ARGV[3]  channel to PUBLISH the value on
  ARGV[4]  expiresAt, epoch ms of the store clock, or "+inf" for never
  ARGV[5]  TTL in ms (>= 1) unless held, or "" for no TTL (archive, never, held)
  ARGV[6]  flags (number 0..31): archive 1, held 2, in progress 4, archived 8, foreign 16
  ARGV[7]  tier name, "" for none
  ARGV[8]  "1" to replace a value already there, "0" to leave it

  Returns 1 when written, 0 when a value was there and ARGV[8] is "0".
]]
--@include "includes/index-info.lua"
local id = ARGV[1]
if ARGV[8] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end

local flags = tonumber(ARGV[6])
if hasFlag((readInfo(KEYS[4], id)), HELD) and not hasFlag(flags, HELD) then flags = flags + HELD end

if hasFlag(flags, HELD) or ARGV[5] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
  indexIn(KEYS[3], KEYS[2], id, ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5])
  indexIn(KEYS[2], KEYS[3], id, ARGV[4])
end

writeInfo(KEYS[4], id, flags, ARGV[7])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1

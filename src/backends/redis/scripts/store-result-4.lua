--[[
  Store one result as Celery's Redis backend does (SET [PX] then PUBLISH on the key's channel, so
  Python's AsyncResult.get() wakes up), unless a ready result is already there, and keep Ebb's index
  in step. Atomic: two workers finishing the same task (at-least-once redelivery) store it once.

  KEYS[1]  value key      <prefix>celery-task-meta-<id>
  KEYS[2]  ttl index      ZSET, results Redis expires itself
  KEYS[3]  no-ttl index   ZSET, results with no TTL (archive, never, held)
  KEYS[4]  info           HASH id -> "<base-32 flags digit><tier>" (see index-info.ts)

  ARGV[1]  task id (index member, info field)
  ARGV[2]  value: encodeResultMeta(...), the exact bytes Celery would write
  ARGV[3]  channel to PUBLISH the value on
  ARGV[4]  expiresAt, epoch ms of the store clock, or "+inf" for never
  ARGV[5]  TTL in ms (>= 1) to set unless the result is held, or "" for no TTL (archive, never)
  ARGV[6]  flags: 1 archive, 4 in progress (2 held is carried over from the existing entry; 8
           archived and 16 foreign are dropped: this is a new value, written by Ebb)
  ARGV[7]  tier name, "" for none

  Returns
    {1, held}  stored; held is 1 when a hold on the id was kept (the value then has no TTL)
    {0, value, pttl, ttl score|nil, no-ttl score|nil, info|nil}
               a ready result was already stored and is kept; its state is returned for the caller
]]
--@include "includes/index-info.lua"

local id = ARGV[1]
local READY = { SUCCESS = true, FAILURE = true, REVOKED = true }

local function existingStatus(text)
  local ok, meta = pcall(cjson.decode, text)
  if ok and type(meta) == 'table' then return meta.status end
  -- Too deep or too odd for cjson: Celery and Ebb both write "status" first.
  return string.match(text, '^{"status": *"(%u+)"')
end

local existing = redis.call('GET', KEYS[1])
if existing and READY[existingStatus(existing)] then
  return { 0, existing, redis.call('PTTL', KEYS[1]), redis.call('ZSCORE', KEYS[2], id),
           redis.call('ZSCORE', KEYS[3], id), redis.call('HGET', KEYS[4], id) }
end

-- A hold belongs to the task id, not to one write of it.
local held = hasFlag((readInfo(KEYS[4], id)), HELD)

if held or ARGV[5] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
  indexIn(KEYS[3], KEYS[2], id, ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5])
  indexIn(KEYS[2], KEYS[3], id, ARGV[4])
end

writeInfo(KEYS[4], id, tonumber(ARGV[6]) + (held and HELD or 0), ARGV[7])

redis.call('PUBLISH', ARGV[3], ARGV[2])
return { 1, held and 1 or 0 }

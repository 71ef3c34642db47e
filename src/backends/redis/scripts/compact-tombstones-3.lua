--[[
  Move one bounded batch of ttl-index entries that expired at or before a ceiling into the compact
  store of expired ids (see tombstones.ts): for each, a 12-byte record (bytes 2-7 of sha1(id), the
  expiry in epoch ms as 6 big-endian bytes) is appended to its shard's tail, and the zset and info
  entries are removed. An entry whose result was still in progress is dropped without a record
  (such an id reads unknown once its value is gone, see stored-result.ts). An entry with an archive
  location stays where it is: the location is read with it, and trimming drops both at once.

  KEYS[1]  ttl index      ZSET id -> expiresAt
  KEYS[2]  info           HASH
  KEYS[3]  archived       HASH
  ARGV[1]  ceiling, epoch ms: entries expired at or before it are moved
  ARGV[2]  the most entries to move in this call

  Returns {moved, skipped, hh, hh, ...}: entries moved (records written or dropped), entries left
  for an archive location, and the shards whose tails grew.
]]
--@include "includes/index-info.lua"
--@include "includes/expired-records.lua"

local IN_PROGRESS = 4 -- index-info.ts INFO_IN_PROGRESS
local limit = tonumber(ARGV[2])
local moved, skipped = 0, 0
local touched, shards = {}, {}
local base = recordsBase(KEYS[1])

while moved < limit do
  local page = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', skipped, limit - moved)
  if #page == 0 then break end
  for i = 1, #page, 2 do
    local id, score = page[i], tonumber(page[i + 1])
    if redis.call('HEXISTS', KEYS[3], id) == 1 then
      skipped = skipped + 1
    else
      local flags = readInfo(KEYS[2], id)
      if not hasFlag(flags, IN_PROGRESS) then
        local shard = appendRecord(base, id, score)
        if not touched[shard] then
          touched[shard] = true
          shards[#shards + 1] = shard
        end
      end
      redis.call('ZREM', KEYS[1], id)
      redis.call('HDEL', KEYS[2], id)
      moved = moved + 1
    end
  end
end
local out = { moved, skipped }
for _, s in ipairs(shards) do out[#out + 1] = s end
return out

--[[
  Ebb's index of results, shared by every script that writes it (index-info.ts reads it):
    ttl index     ZSET id -> expiresAt: results Redis expires itself
    no-ttl index  ZSET id -> expiresAt or +inf: results with no TTL (archive, never, held)
    info          HASH id -> "<base-32 flags digit><tier>"; flags 1 archive, 2 held,
                  4 in progress, 8 archived, 16 written by Python Celery
  An id is in at most one of the two indexes.
]]
local FLAG_DIGITS = '0123456789abcdefghijklmnopqrstuv'
local ARCHIVE, HELD, ARCHIVED, FOREIGN = 1, 2, 8, 16

-- The id's flags and tier (0 and '' when it has no info entry).
local function readInfo(infoKey, id)
  local info = redis.call('HGET', infoKey, id)
  if not info then return 0, '' end
  return tonumber(string.sub(info, 1, 1), 32) or 0, string.sub(info, 2)
end

local function hasFlag(flags, flag)
  return math.floor(flags / flag) % 2 == 1
end

-- flags with `flag` set.
local function withFlag(flags, flag)
  return hasFlag(flags, flag) and flags or flags + flag
end

-- Write the id's info entry, or drop it when there is nothing to say.
local function writeInfo(infoKey, id, flags, tier)
  if flags == 0 and tier == '' then
    redis.call('HDEL', infoKey, id)
  else
    redis.call('HSET', infoKey, id, string.sub(FLAG_DIGITS, flags + 1, flags + 1) .. tier)
  end
end

-- Index the id in `into` at `score`, and take it out of the other index.
local function indexIn(into, outOf, id, score)
  redis.call('ZREM', outOf, id)
  redis.call('ZADD', into, score, id)
end

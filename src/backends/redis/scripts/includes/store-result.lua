--[[
  store(): one result stored as Celery's Redis backend stores it, with Ebb's index kept in step.
  Shared by store-results-3+.lua and finish-5+.lua; the caller includes index-info.lua and
  expired-records.lua, and defines ttlIndex, noTtlIndex and infoKey (the index keys), first. See store-results-3+.lua for the arguments
  and the reply.
]]

local READY = { SUCCESS = true, FAILURE = true, REVOKED = true }

local function existingStatus(text)
  local ok, meta = pcall(cjson.decode, text)
  if ok and type(meta) == 'table' then return meta.status end
  -- Too deep or too odd for cjson: Celery and Ebb both write "status" first.
  return string.match(text, '^{"status": *"(%u+)"')
end

local function store(key, id, value, channel, expiresAt, ttl, flags, tier)
  local existing = redis.call('GET', key)
  if existing and READY[existingStatus(existing)] then
    local ttlScore, noTtlScore = redis.call('ZSCORE', ttlIndex, id), redis.call('ZSCORE', noTtlIndex, id)
    if not ttlScore and not noTtlScore then
      local recorded = findRecord(recordsBase(ttlIndex), id)
      if recorded then ttlScore = string.format('%.0f', recorded) end
    end
    return { 0, existing, redis.call('PTTL', key), ttlScore, noTtlScore, redis.call('HGET', infoKey, id) }
  end
  -- A hold belongs to the task id, not to one write of it.
  local infoFlags, infoTier = readInfo(infoKey, id)
  local held = hasFlag(infoFlags, HELD)
  if held or ttl == '' then
    redis.call('SET', key, value)
    indexIn(noTtlIndex, ttlIndex, id, expiresAt)
    writeInfo(infoKey, id, tonumber(flags) + (held and HELD or 0), tier)
  elseif tonumber(flags) == 0 and tier == '' then
    -- A default result (no tier, ready, a TTL): its 12-byte record is its whole index entry.
    redis.call('SET', key, value, 'PX', ttl)
    appendRecord(recordsBase(ttlIndex), id, expiresAt)
    -- What an earlier write of this id left (STARTED's entry, an old tombstone) would be read first.
    redis.call('ZREM', ttlIndex, id)
    if existing then redis.call('ZREM', noTtlIndex, id) end
    if infoFlags ~= 0 or infoTier ~= '' then redis.call('HDEL', infoKey, id) end
  else
    redis.call('SET', key, value, 'PX', ttl)
    indexIn(ttlIndex, noTtlIndex, id, expiresAt)
    writeInfo(infoKey, id, tonumber(flags), tier)
  end
  redis.call('PUBLISH', channel, value)
  return { 1, held and 1 or 0 }
end


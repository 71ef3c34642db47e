--[[
  store(): one result stored as Celery's Redis backend stores it, with Ebb's index kept in step.
  Shared by store-results-3+.lua and finish-5+.lua; the caller defines ttlIndex, noTtlIndex and
  infoKey (the index keys) before including this file. See store-results-3+.lua for the arguments
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
    return { 0, existing, redis.call('PTTL', key), redis.call('ZSCORE', ttlIndex, id),
             redis.call('ZSCORE', noTtlIndex, id), redis.call('HGET', infoKey, id) }
  end
  -- A hold belongs to the task id, not to one write of it.
  local held = hasFlag((readInfo(infoKey, id)), HELD)
  if held or ttl == '' then
    redis.call('SET', key, value)
    indexIn(noTtlIndex, ttlIndex, id, expiresAt)
  else
    redis.call('SET', key, value, 'PX', ttl)
    indexIn(ttlIndex, noTtlIndex, id, expiresAt)
  end
  writeInfo(infoKey, id, tonumber(flags) + (held and HELD or 0), tier)
  redis.call('PUBLISH', channel, value)
  return { 1, held and 1 or 0 }
end


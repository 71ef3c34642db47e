--[[
  Mark results as archived (their archive is complete and verified), so that cleanup may remove
  archive-tier results and a rerun of archive knows they are done. The mark is flag 8 of the
  info entry. A value Python Celery wrote has no index entry; it gets one here (with flag 16,
  foreign), so that its info entry leaves with it: the ttl index at the end of its TTL (trimming
  drops both), the no-ttl index at +inf when it has none (removal drops both).

  KEYS[1]    ttl index      ZSET id -> expiresAt
  KEYS[2]    no-ttl index   ZSET
  KEYS[3]    info           HASH id -> "<base-32 flags digit><tier>" (see index-info.ts)
  KEYS[3+i]  value key of the i-th id

  ARGV[1]    now, epoch ms of the store clock
  ARGV[1+i]  the i-th task id

  Returns how many ids had a value and are now marked.
]]
--@include "includes/index-info.lua"
local now = tonumber(ARGV[1])
local marked = 0
for i = 1, #KEYS - 3 do
  local id, key = ARGV[1 + i], KEYS[3 + i]
  local pttl = redis.call('PTTL', key)
  if pttl ~= -2 then
    local flags, tier = readInfo(KEYS[3], id)
    if not redis.call('ZSCORE', KEYS[1], id) and not redis.call('ZSCORE', KEYS[2], id) then
      flags = withFlag(flags, FOREIGN)
      -- PTTL 0: its TTL ran out during this script (Redis 7.0 still shows the value): not permanent.
      if pttl >= 0 then redis.call('ZADD', KEYS[1], now + pttl, id) else redis.call('ZADD', KEYS[2], '+inf', id) end
    end
    flags = withFlag(flags, ARCHIVED)
    writeInfo(KEYS[3], id, flags, tier)
    marked = marked + 1
  end
end
return marked

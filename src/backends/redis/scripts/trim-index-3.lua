--[[
  Drop one bounded batch of ttl-index entries whose grace window is over (expiresAt <= cutoff),
  with their info entries. Redis's TTL removed their values long ago; all the entries did was make
  the ids read EXPIRED. Bounded so a backlog is cleared a batch per call, between live commands.
  The no-ttl index is never trimmed: its entries leave with their values.

  KEYS[1]  ttl index      ZSET id -> expiresAt
  KEYS[2]  info           HASH
  KEYS[3]  archived       HASH id -> where archive --delete put the result

  ARGV[1]  cutoff, epoch ms: now - grace
  ARGV[2]  the most entries to drop in this call (<= 5000, under Lua's unpack limit)

  Returns the number of entries dropped (less than ARGV[2] once nothing is left to trim).
]]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #ids == 0 then return 0 end
redis.call('ZREM', KEYS[1], unpack(ids))
redis.call('HDEL', KEYS[2], unpack(ids))
redis.call('HDEL', KEYS[3], unpack(ids))
return #ids

--[[
  Confirm that one fire's message was sent: only while the fire is unsent, it leaves unsent, and
  its history record gets sentAt and loses the message (the outbox copy). When it is the entry's
  newest fire, last_fire follows.

  cjson writes numbers with 14 significant digits: epoch ms are whole numbers of 13 digits (until
  the year 2286), so tick, claimedAt and sentAt come back exactly as the store wrote them.

  KEYS[1]  entry    HASH  (field last_fire)
  KEYS[2]  fires    ZSET  fire JSON -> tick
  KEYS[3]  unsent   ZSET  fire JSON -> claimedAt

  ARGV[1]  tick
  ARGV[2]  now, epoch ms of the store clock: the fire's sentAt

  Returns 1 when the fire was unsent and is now marked sent, 0 when there is no such unsent fire
  (never claimed, already sent, or trimmed from the history).
]]
local tick = ARGV[1]
local fire = redis.call('ZRANGEBYSCORE', KEYS[2], tick, tick)[1]
if not fire or redis.call('ZREM', KEYS[3], fire) == 0 then return 0 end

local record = cjson.decode(fire)
record.sentAt = tonumber(ARGV[2])
record.message = nil
local sent = cjson.encode(record)
redis.call('ZREM', KEYS[2], fire)
redis.call('ZADD', KEYS[2], tick, sent)

local last = redis.call('HGET', KEYS[1], 'last_fire')
if last and cjson.decode(last).tick == record.tick then redis.call('HSET', KEYS[1], 'last_fire', sent) end
return 1

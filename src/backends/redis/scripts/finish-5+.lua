--[[
  finish: store the results of tasks that finished together and ack their messages, in one
  atomic step, when the broker and the result backend are the same Redis database (see
  RedisBackend.finishWith). Each result is stored exactly as store-results-3+.lua stores it; each
  message is then acked exactly as settle-4+.lua acks one (kombu's unacked hash and index), only
  while its unacked_index score is still the one this worker holds: a worker whose lease was taken
  over stores (a ready result already there is kept) but cannot ack the new holder's message.
  The ack can never land without its result: both are in this one script.

  KEYS[1]  ttl index      ZSET (see store-results-3+.lua)
  KEYS[2]  no-ttl index   ZSET
  KEYS[3]  info           HASH
  KEYS[4]  unacked        HASH  (the broker's, kombu's layout)
  KEYS[5]  unacked_index  ZSET
  KEYS[5+i] value key of the i-th result

  ARGV     groups of nine, one per task, in the order of KEYS[6..]: the seven of a store (id,
           value, channel, expiresAt, ttl, flags, tier; see store-results-3+.lua), then
    field  the unacked field of the task's message ("" when the broker holds no lease for it)
    score  the unacked_index score the worker holds

  Returns one store reply per task (see store-results-3+.lua); acks report nothing (as settle's
  acks are ignored by their caller: a lost lease means the message comes back, at-least-once).
]]
--@include "includes/index-info.lua"
--@include "includes/expired-records.lua"
local ttlIndex, noTtlIndex, infoKey = KEYS[1], KEYS[2], KEYS[3]
--@include "includes/store-result.lua"

local out = {}
for i = 1, #KEYS - 5 do
  local a = (i - 1) * 9
  out[i] = store(KEYS[5 + i], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7])
  local field, score = ARGV[a + 8], ARGV[a + 9]
  if field ~= '' then
    local current = redis.call('ZSCORE', KEYS[5], field)
    if current and tonumber(current) == tonumber(score) then
      redis.call('ZREM', KEYS[5], field)
      redis.call('HDEL', KEYS[4], field)
    end
  end
end
return out

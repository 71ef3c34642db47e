--[[
settle: end leases atomically (ack, release, dead-letter, restore). Each entry is settled only
while its unacked_index score is still the one the caller read or wrote, so a worker whose lease
was taken over (restored and fetched again) cannot touch the new holder's message, and two
restorers cannot both push one message back.

KEYS[1]    unacked          hash
KEYS[2]    unacked_index    zset
KEYS[3]    ebb.redelivered  hash  sha1(payload) -> count (redelivered flag for non-envelopes)
KEYS[4]    ebb.dead_letters list  newest first
KEYS[5..]  target lists, referenced by index from ARGV

ARGV       groups of five: field, score, kind, payload, targets
  field    the unacked field (kombu's delivery tag)
  score    the unacked_index score the caller holds (compared as numbers)
  kind     "ack"   remove from unacked and unacked_index
           "push"  RPUSH payload onto every target (served next), then remove
           "mark"  as "push", and count one redelivered flag for payload in KEYS[3]
           "dead"  LPUSH payload onto KEYS[4], then remove
  payload  the message to push, or the dead-letter entry ("" for ack)
  targets  comma-separated 1-based indices into KEYS[5..] ("" unless push/mark)

Returns one integer per group: 1 settled, 0 the score no longer matched (nothing changed).
]]
local out = {}
for g = 1, #ARGV, 5 do
  local field, score, kind, payload, targets = ARGV[g], ARGV[g + 1], ARGV[g + 2], ARGV[g + 3], ARGV[g + 4]
  local current = redis.call('ZSCORE', KEYS[2], field)
  if current and tonumber(current) == tonumber(score) then
    if kind == 'push' or kind == 'mark' then
      for t in string.gmatch(targets, '%d+') do redis.call('RPUSH', KEYS[4 + tonumber(t)], payload) end
      if kind == 'mark' then redis.call('HINCRBY', KEYS[3], redis.sha1hex(payload), 1) end
    elseif kind == 'dead' then
      redis.call('LPUSH', KEYS[4], payload)
    end
    redis.call('ZREM', KEYS[2], field)
    redis.call('HDEL', KEYS[1], field)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out

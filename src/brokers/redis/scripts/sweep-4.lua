--[[
sweep: put back the hand-off list of a consumer that is gone (its last wait is older than the
ceiling), or of this consumer as it closes (no ceiling). Only if the list still holds exactly
what the caller read, so a consumer that came back, or a second sweeper, changes nothing.

KEYS[1]  ebb.consumers    zset  consumer id -> unix seconds of its latest blocking wait
KEYS[2]  ebb.redelivered  hash  sha1(payload) -> count (redelivered flag for non-envelopes)
KEYS[3]  the hand-off list      ebb.inflight.<consumer>.<list>
KEYS[4]  the list               it belongs to

ARGV[1]          consumer id
ARGV[2]          ceiling: unix seconds; "" when the consumer itself drains it
ARGV[3]          n, the entries the caller read (LRANGE 0 -1: newest first)
ARGV[4..3+n]     those entries
ARGV[4+n..3+2n]  what to push back for each (the entry itself, or flagged redelivered)
ARGV[4+2n..3+3n] "1" to count a redelivered flag for that payload in KEYS[2], else "0"

Pushes to the right in the order read, so the oldest ends at the serving end, as it was.
Returns 1 put back, 0 left alone (the consumer is alive again, or the list changed).
]]
local n = tonumber(ARGV[3])
if ARGV[2] ~= '' then
  local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if seen and tonumber(seen) > tonumber(ARGV[2]) then return 0 end
end
local now = redis.call('LRANGE', KEYS[3], 0, -1)
if #now ~= n then return 0 end
for k = 1, n do
  if now[k] ~= ARGV[3 + k] then return 0 end
end
for k = 1, n do
  local payload = ARGV[3 + n + k]
  redis.call('RPUSH', KEYS[4], payload)
  if ARGV[3 + 2 * n + k] == '1' then redis.call('HINCRBY', KEYS[2], redis.sha1hex(payload), 1) end
end
redis.call('UNLINK', KEYS[3])
return 1

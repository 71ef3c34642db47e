--[[
fetch: lease up to `max` messages in one round trip. Takes from the right (kombu consumers take
from the right, publishers LPUSH on the left) across the given lists in order, and records each
message the way kombu's QoS.append does: unacked[tag] = [message, exchange, routing_key] and
unacked_index[tag] = now, in the same atomic step as the pop, so a message is never in neither.

Before each list it drains that list's hand-off list: the consumer's own
ebb.inflight.<consumer>.<list>, where its blocking wait (BRPOPLPUSH) moved messages. Those were
the list's oldest entries, so they are served first; the hand-off list is never read by anyone
else while the consumer lives (a sweep puts it back when the consumer is gone).

KEYS[1]        unacked          hash  tag -> JSON [message, exchange, routing_key]
KEYS[2]        unacked_index    zset  tag -> unix seconds (float)
KEYS[3]        ebb.redelivered  hash  sha1(raw) -> count of restored copies flagged redelivered
KEYS[4..3+n]   the n lists to pop, in the order they are served
KEYS[4+n..3+2n] their hand-off lists, in the same order

ARGV[1]    max              how many messages at most (>= 1)
ARGV[2]    score            now, unix seconds, written to unacked_index
ARGV[3]    ceiling          now - visibility timeout (unix seconds); "" skips the due check
ARGV[4]    tag prefix       tags for messages without a usable properties.delivery_tag are
                            prefix..n (unique per call)
ARGV[5..4+n]  per list, the tail of its unacked value: ', "<exchange>", "<routing_key>"]'

Returns
  {-1}                          the ceiling was given and the oldest unacked entry is due
                                (score <= ceiling); nothing was popped. Restore, then call again.
  {i, raw, tag, redelivered, ...}  four items per message in serve order: the list index
                                (1-based into KEYS[4..]), the raw message, its unacked field, and
                                1 when it was redelivered (flag in the envelope or in KEYS[3]).
]]
local max = tonumber(ARGV[1])
local score = ARGV[2]
local ceiling = ARGV[3]
local tag_prefix = ARGV[4]
local lists = (#KEYS - 3) / 2

if ceiling ~= '' then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if oldest[2] and tonumber(oldest[2]) <= tonumber(ceiling) then return {-1} end
end

local has_marks = redis.call('EXISTS', KEYS[3]) == 1
local out = {}
local n = 0

-- A JSON object envelope keeps its bytes inside the unacked value, as Python's dumps of the
-- parsed message would; anything else is stored as a JSON string so the value stays JSON.
local function record(i, raw)
  n = n + 1
  local tag, redelivered, value = nil, 0, nil
  if string.find(raw, '^%s*{') then
    local ok, msg = pcall(cjson.decode, raw)
    if ok and type(msg) == 'table' then
      value = '[' .. raw .. ARGV[4 + i]
      local props = msg['properties']
      if type(props) == 'table' then
        local t = props['delivery_tag']
        if type(t) == 'string' and t ~= '' then tag = t end
        local info = props['delivery_info']
        if type(info) == 'table' and info['redelivered'] == true then redelivered = 1 end
      end
      local headers = msg['headers']
      if type(headers) == 'table' and headers['redelivered'] == true then redelivered = 1 end
    end
  end
  if value == nil then value = '[' .. cjson.encode(raw) .. ARGV[4 + i] end
  if redelivered == 0 and has_marks then
    local f = redis.sha1hex(raw)
    local c = tonumber(redis.call('HGET', KEYS[3], f) or '0')
    if c > 0 then
      redelivered = 1
      if c == 1 then redis.call('HDEL', KEYS[3], f) else redis.call('HINCRBY', KEYS[3], f, -1) end
    end
  end
  -- Two copies of one envelope in flight must not share a field: the second ack would drop both.
  if tag == nil or redis.call('HEXISTS', KEYS[1], tag) == 1 then tag = tag_prefix .. n end
  redis.call('ZADD', KEYS[2], score, tag)
  redis.call('HSET', KEYS[1], tag, value)
  out[#out + 1] = i
  out[#out + 1] = raw
  out[#out + 1] = tag
  out[#out + 1] = redelivered
end

for i = 1, lists do
  for _, key in ipairs({KEYS[3 + lists + i], KEYS[3 + i]}) do
    while n < max do
      local raw = redis.call('RPOP', key)
      if not raw then break end
      record(i, raw)
    end
  end
  if n >= max then break end
end
return out

--[[
  Count one finished chord header part, as Celery's Redis backend does in on_chord_part_return
  (celery/backends/redis.py, with result_chord_ordered, its default): ZADD the encoded part to the
  group's .j zset scored by its group_index, count the zset, read .t (extra parts added with
  add_to_chord) and .s (the header size set by the client), and move every expiry forward. One
  script, so atomic as Celery's MULTI pipeline. A part added twice (a redelivery) is one member.

  KEYS[1]  <prefix>celery-taskset-meta-<group id>.j   ZSET of JSON [1, task id, state, result]
  KEYS[2]  <prefix>celery-taskset-meta-<group id>.t   INCR counter of extra parts (usually absent)
  KEYS[3]  <prefix>celery-taskset-meta-<group id>.s   the header size

  ARGV[1]  the part, JSON [1, task id, state, result] as Python's json.dumps writes it
  ARGV[2]  its score: the group_index, or "+inf" when it has none
  ARGV[3]  expiry in ms for the three keys, or "" for none

  Returns
    {1, part, part, ...}  this part completed the header: every part, in score order
    {0, count}            parts are missing, or no size is set (count = parts so far)
]]
redis.call("ZADD", KEYS[1], ARGV[2], ARGV[1])
local count = redis.call("ZCOUNT", KEYS[1], "-inf", "+inf")
local extra = tonumber(redis.call("GET", KEYS[2]) or "0") or 0
local size = redis.call("GET", KEYS[3])
if ARGV[3] ~= "" then
  for i = 1, 3 do
    redis.call("PEXPIRE", KEYS[i], ARGV[3])
  end
end
if size and count == tonumber(size) + extra then
  local parts = redis.call("ZRANGE", KEYS[1], 0, -1)
  table.insert(parts, 1, 1)
  return parts
end
return { 0, count }

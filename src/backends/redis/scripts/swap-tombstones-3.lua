--[[
  Finish a merge of one shard of the compact store of expired ids (see tombstones.ts), if nobody
  merged it since it was read: the sorted records are replaced, and the part of the tail that was
  merged is cut off the front (records appended since stay). A generation counter per shard tells
  a stale merge (another process merged first): it changes nothing.

  KEYS[1]  the shard's sorted records
  KEYS[2]  the shard's tail
  KEYS[3]  generations  HASH shard -> merges so far
  ARGV[1]  the shard (two hex digits)
  ARGV[2]  the generation the merge read ("" for none yet)
  ARGV[3]  the new sorted records ("" for none)
  ARGV[4]  how many bytes of the tail were merged

  Returns 1 when swapped, 0 when the shard was merged meanwhile.
]]
local gen = redis.call('HGET', KEYS[3], ARGV[1]) or ''
if gen ~= ARGV[2] then return 0 end
local merged = tonumber(ARGV[4])
if redis.call('STRLEN', KEYS[2]) < merged then return 0 end
if ARGV[3] == '' then redis.call('UNLINK', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[3]) end
local rest = redis.call('GETRANGE', KEYS[2], merged, -1)
if rest == '' then redis.call('UNLINK', KEYS[2]) else redis.call('SET', KEYS[2], rest) end
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
return 1

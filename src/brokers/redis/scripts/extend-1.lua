--[[
extend: move leases' unacked_index scores forward (ZADD XX), only while each score is still the
one the caller holds, so a stale worker cannot keep alive a message someone else now holds.
A score already equal to the new one counts as done (the command was resent after a reconnect).

KEYS[1]  unacked_index   zset tag -> unix seconds

ARGV     groups of three: field, the score the caller holds, the new score

Returns one integer per group: 1 re-scored, 0 the lease is no longer the caller's.
]]
local out = {}
for g = 1, #ARGV, 3 do
  local field, held, new = ARGV[g], ARGV[g + 1], ARGV[g + 2]
  local current = redis.call('ZSCORE', KEYS[1], field)
  if current and (tonumber(current) == tonumber(held) or tonumber(current) == tonumber(new)) then
    redis.call('ZADD', KEYS[1], 'XX', new, field)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out

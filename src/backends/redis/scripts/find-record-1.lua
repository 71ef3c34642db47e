--[[
  The latest expiry recorded for one id in the compact records (includes/expired-records.lua).

  KEYS[1]  ttl index (its name locates the records)
  ARGV[1]  task id

  Returns the expiry (epoch ms), or false when the id has no record.
]]
--@include "includes/expired-records.lua"
return findRecord(recordsBase(KEYS[1]), ARGV[1])

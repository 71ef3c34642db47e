--[[
publish-once: publish a message unless one was already published under the same key while the key
lives. The key (SET NX PX) and the publish are one atomic step, so a sender that retries, or a
second process resending for one that died, cannot put the message on the queue twice. The
publish is exactly publish()'s: kombu's binding member, then LPUSH on the priority's list.

KEYS[1]  ebb.once.<key>           STRING "1", expires after ARGV[1] ms
KEYS[2]  _kombu.binding.<queue>   set
KEYS[3]  the queue's list for the message's priority

ARGV[1]  key TTL, ms (integer > 0)
ARGV[2]  the binding member "<queue>\x06\x16\x06\x16<queue>"
ARGV[3]  the raw message

Returns 1 published, 0 the key was taken (nothing written).
]]
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('LPUSH', KEYS[3], ARGV[3])
return 1

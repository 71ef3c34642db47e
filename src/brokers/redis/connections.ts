import type { Redis } from "ioredis";
import type { Clock } from "../../clock.js";
import type { Logger } from "../../logger.js";
import { connectRedis, redisHealth } from "../../redis/connect.js";
import type { RedisTarget } from "../../redis/redis-url.js";
import { BlockingPop } from "./blocking-pop.js";
import type { RedisKeys } from "./keys.js";
import { RESTORE_EVERY_MS, Restorer } from "./restore.js";
import { ServerClock } from "../../redis/server-clock.js";

/**
 * What a connected RedisBroker holds: one connection for commands and scripts (ioredis queues
 * them while it reconnects, so a Redis restart is a pause), BRPOP connections of their own, the
 * clock leases are scored with, and the restorer with its interval.
 */
export interface Connections {
  client: Redis;
  pop: BlockingPop;
  restorer: Restorer;
  /** Epoch ms: the injected clock, or Redis's (TIME offset). */
  now: Clock;
  /** Stop the interval, end blocking waits (their callers abort first), finish a restore, disconnect. */
  close(): Promise<void>;
}

/** `log` (the app's) hears once per outage that Redis is unreachable, and the restorer's and clock refresh's errors. */
export async function openConnections(target: RedisTarget, keys: RedisKeys, name: string, clock: Clock | undefined, log?: Logger): Promise<Connections> {
  const health = log ? redisHealth(log, target) : undefined;
  const client = await connectRedis(target, { name, health });
  let serverClock: ServerClock | null = null;
  if (!clock) {
    try {
      serverClock = await ServerClock.start(client, { report: health });
    } catch (e) {
      client.disconnect();
      throw e;
    }
  }
  const now = clock ?? serverClock!.now;
  const pop = new BlockingPop(target, client, name, health);
  const restorer = new Restorer(client, keys, now, health);
  // tick() never rejects: its errors go to the log, and the next tick tries again.
  const timer = setInterval(() => void restorer.tick(), RESTORE_EVERY_MS);
  timer.unref();
  return {
    client,
    pop,
    restorer,
    now,
    async close() {
      clearInterval(timer);
      serverClock?.stop();
      await pop.close();
      await restorer.idle();
      await client.quit().catch(() => client.disconnect());
    },
  };
}

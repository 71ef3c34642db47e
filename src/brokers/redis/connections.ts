import type { Redis } from "ioredis";
import type { Clock } from "../../clock.js";
import { connectRedis } from "../../redis/connect.js";
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

export async function openConnections(target: RedisTarget, keys: RedisKeys, name: string, clock: Clock | undefined): Promise<Connections> {
  const client = await connectRedis(target, { name });
  let serverClock: ServerClock | null = null;
  if (!clock) {
    try {
      serverClock = await ServerClock.start(client);
    } catch (e) {
      client.disconnect();
      throw e;
    }
  }
  const now = clock ?? serverClock!.now;
  const pop = new BlockingPop(target, client, name);
  const restorer = new Restorer(client, keys, now);
  // Errors here are retried on the next tick; fetch() reports the same problems to its caller.
  const timer = setInterval(() => void restorer.tick().catch(() => undefined), RESTORE_EVERY_MS);
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

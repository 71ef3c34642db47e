import type { Redis } from "ioredis";
import type { Clock } from "../../clock.js";
import type { Logger } from "../../logger.js";
import { connectRedis, redisHealth } from "../../redis/connect.js";
import type { RedisTarget } from "../../redis/redis-url.js";
import { BlockingMove } from "./blocking-move.js";
import { Consumer } from "./consumer.js";
import type { RedisKeys } from "./keys.js";
import { RESTORE_EVERY_MS, Restorer } from "./restore.js";
import { ServerClock } from "../../redis/server-clock.js";

/**
 * What a connected RedisBroker holds: one connection for commands and scripts (ioredis queues
 * them while it reconnects, so a Redis restart is a pause), blocking-move connections of their
 * own, its consumer identity, the clock leases are scored with, and the restorer with its
 * interval (which also sweeps gone consumers).
 */
export interface Connections {
  client: Redis;
  wait: BlockingMove;
  consumer: Consumer;
  restorer: Restorer;
  /** Epoch ms: the injected clock, or Redis's (TIME offset). */
  now: Clock;
  /** Stop the interval, end blocking waits (their callers abort first), put back the hand-off lists, finish a restore, disconnect. */
  close(): Promise<void>;
}

/** `log` (the app's) hears once per outage that Redis is unreachable, and the restorer's and clock refresh's errors. */
export async function openConnections(
  target: RedisTarget,
  keys: RedisKeys,
  name: string,
  clock: Clock | undefined,
  log?: Logger,
): Promise<Connections> {
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
  const consumer = new Consumer(client, keys);
  const wait = new BlockingMove(target, client, name, consumer.registration, health);
  const restorer = new Restorer(client, keys, now, consumer, health);
  // tick() never rejects: its errors go to the log, and the next tick tries again.
  const timer = setInterval(() => void restorer.tick(), RESTORE_EVERY_MS);
  timer.unref();
  return {
    client,
    wait,
    consumer,
    restorer,
    now,
    async close() {
      clearInterval(timer);
      serverClock?.stop();
      await wait.close();
      // Bounded: with Redis unreachable, the sweep of another broker puts them back instead.
      await withTimeout(consumer.leave(), LEAVE_TIMEOUT_MS).catch(() => undefined);
      await restorer.idle();
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/** How long close() tries to put back its own hand-off lists. */
const LEAVE_TIMEOUT_MS = 2_000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

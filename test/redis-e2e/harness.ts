/**
 * Shared helpers for the Redis end-to-end tests: a redis-server of the test's own (restartable,
 * AOF on disk), a prefixed namespace on the shared Redis, apps closed when the test ends, and
 * bounded waits on real conditions.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { onTestFinished } from "vitest";
import { createApp, type App } from "../../src/app.js";
import type { AppConfig } from "../../src/config.js";
import { silentLogger, type Logger } from "../../src/logger.js";
import type { Worker, WorkerOptions } from "../../src/worker/worker.js";
import { unlinkPrefix } from "../redis/redis-broker-helpers.js";
import { SERVICES } from "../support/services.js";

export { unlinkPrefix };
export { RedisServer } from "../support/redis-server.js";

export { sleep, waitFor } from "../support/wait.js";

/** A prefix of its own on the shared Redis, a plain client, and SCAN + UNLINK cleanup when the test ends. */
export function sharedNamespace(): { prefix: string; url: string; redis: Redis } {
  const { host, port } = SERVICES.redis;
  const prefix = `ebbtest:${randomUUID()}:`;
  const redis = new Redis({ host, port, connectionName: "ebbtest-admin" });
  onTestFinished(async () => {
    await unlinkPrefix(redis, prefix);
    await redis.quit();
  });
  return { prefix, url: `redis://${host}:${port}/0?prefix=${prefix}`, redis };
}

/** An app on one URL for broker and backend, closed when the test ends. */
export function testApp(url: string, config: AppConfig = {}, log: Logger = silentLogger): App {
  const app = createApp({ broker: url, backend: url, ...config }, { log });
  onTestFinished(() => app.close().catch(() => undefined));
  return app;
}

/** A started in-process worker, stopped when the test ends; `failure` is set if its loop ever rejects. */
export async function runWorker(
  app: App,
  options: WorkerOptions = {},
): Promise<{ worker: Worker; state: { ended: boolean; failure: unknown } }> {
  const worker = await app.worker({ fetchWaitMs: 200, ...options });
  const state = { ended: false, failure: null as unknown };
  const running = worker.start().then(
    () => {
      state.ended = true;
    },
    (e: unknown) => {
      state.ended = true;
      state.failure = e;
    },
  );
  onTestFinished(async () => {
    await worker.stop();
    await running;
  });
  return { worker, state };
}

/** Redis's own clock, epoch ms. */
export async function redisNow(redis: Redis): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Number(us) / 1000;
}

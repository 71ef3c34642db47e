/**
 * Warm stop on Redis: a message the worker holds for a future ETA goes back onto its list at
 * once, as Celery's warm shutdown does, instead of staying in `unacked` until some worker's
 * restore notices it (about 100 s later with Python workers). Store-only because `unacked`
 * and the queue lists are kombu's Redis layout; the memory case is in held-eta.test.ts.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import type { App } from "../../src/app.js";
import { silentLogger } from "../../src/logger.js";
import { encodeTaskMessage, makeTaskMessage } from "../../src/protocol/task-message.js";
import { Worker } from "../../src/worker/worker.js";
import { namespace, type Namespace } from "../redis/redis-broker-helpers.js";
import { describeWithService } from "../support/services.js";
import { letItRun, newApp, until } from "../app/helpers.js";

await describeWithService("redis", "worker on Redis: held ETA messages on a warm stop", () => {
  let ns: Namespace;
  const workers: Worker[] = [];
  beforeEach(async () => {
    ns = await namespace();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await ns.cleanup();
  });
  const key = (name: string): string => `${ns.prefix}${name}`;

  /** A worker on this namespace's Redis (manual clock), results in the app's memory backend. */
  async function startWorker(app: App): Promise<{ worker: Worker; running: Promise<void> }> {
    const worker = new Worker(
      { broker: await ns.broker(), backend: await app.backend(), registry: app.tasks, config: app.config, log: silentLogger },
      { concurrency: 1, fetchWaitMs: 20, etaCheckMs: 20 },
    );
    workers.push(worker);
    return { worker, running: worker.start() };
  }

  it("after stop() the held message is back on the queue's list, not in unacked; another worker runs it at its ETA", async () => {
    const app = newApp({ clock: ns.clock });
    let runs = 0;
    app.task("eta.job", async () => ++runs);
    const eta = ns.clock() + 10 * 60_000;
    const message = makeTaskMessage({ task: "eta.job", args: [], eta });
    const publisher = await ns.broker();
    await publisher.publish(encodeTaskMessage(message), { queue: "celery", priority: 0, availableAt: null });

    const first = await startWorker(app);
    await until(() => first.worker.held === 1, "the first worker holds the ETA message");
    expect(await ns.redis.hlen(key("unacked"))).toBe(1);
    expect(await ns.redis.llen(key("celery"))).toBe(0);

    await first.worker.stop();
    await first.running;
    expect(await ns.redis.hlen(key("unacked"))).toBe(0);
    expect(await ns.redis.zcard(key("unacked_index"))).toBe(0);
    const [back] = await ns.redis.lrange(key("celery"), 0, -1);
    expect(JSON.parse(back!)).toMatchObject({ headers: { id: message.id, eta: expect.any(String) } });

    const second = await startWorker(app);
    await until(() => second.worker.held === 1, "the second worker holds the message");
    expect(runs).toBe(0);
    ns.clock.advance(10 * 60_000 - 1);
    await letItRun();
    expect(runs).toBe(0);
    ns.clock.advance(1);
    expect(await app.asyncResult(message.id).get({ timeoutMs: 10_000 })).toBe(1);
    expect(runs).toBe(1);
  });
});

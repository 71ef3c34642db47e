/**
 * On Redis the stored value is Celery's own bytes, so resultExtended must give exactly the keys
 * Celery 5.2.6 writes without and with result_extended (test/fixtures/celery/result_values).
 * Store-only: the raw celery-task-meta-* value exists only in the Redis backend.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { readReference } from "../fixtures/celery-reference.js";
import { redisNamespace, type RedisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";
import { currentTask } from "../../src/task-context.js";
import { newApp, startWorker, until } from "./helpers.js";

const keysOf = (raw: string): string[] => Object.keys(JSON.parse(raw) as object);

await describeWithService("redis", "resultExtended on Redis: Celery's keys, with and without result_extended", () => {
  let ns: RedisNamespace;
  beforeEach(async () => {
    ns = await redisNamespace();
  });
  afterEach(() => ns.cleanup());
  const rawValue = async (id: string): Promise<string> => {
    const raw = await ns.redis.get(`${ns.prefix}celery-task-meta-${id}`);
    if (raw === null) throw new Error(`no value stored for ${id}`);
    return raw;
  };

  it("off (the default): SUCCESS and RETRY values have Celery's keys without result_extended, and no args", async () => {
    const app = newApp({ broker: ns.url, backend: ns.url });
    const add = app.task("probe.add", async (a: number, b: number) => a + b);
    const retry = app.task("probe.retry", async () => currentTask().retry({ countdown: "1h" }));
    await startWorker(app);
    const sum = await add.delay(2, 3);
    expect(await sum.get({ timeoutMs: 10_000 })).toBe(5);
    const r = await retry.applyAsync([], { kwargs: { secret: "s3" } });
    await until(async () => (await r.state()) === "RETRY", "probe.retry stored RETRY");

    expect(keysOf(await rawValue(sum.id))).toEqual(keysOf(readReference("result_values/success_add.json")));
    const retried = await rawValue(r.id);
    expect(keysOf(retried)).toEqual(keysOf(readReference("result_values/retry_state.json")));
    expect(retried).not.toContain("s3");
  });

  it("on: the value has Celery's result_extended keys, in Celery's order, with the call's values", async () => {
    const app = newApp({ broker: ns.url, backend: ns.url, resultExtended: true });
    const add = app.task("probe.add", async (a: number, b: number) => a + b);
    const { worker } = await startWorker(app);
    const sum = await add.delay(2, 3);
    expect(await sum.get({ timeoutMs: 10_000 })).toBe(5);

    const raw = await rawValue(sum.id);
    expect(keysOf(raw)).toEqual(keysOf(readReference("result_values/result_extended_success_add.json")));
    expect(JSON.parse(raw)).toMatchObject({
      name: "probe.add",
      args: [2, 3],
      kwargs: {},
      worker: worker.name,
      retries: 0,
      queue: "celery",
    });
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { createApp, type App } from "../../src/app.js";
import type { Broker } from "../../src/brokers/broker.js";
import { ConfigError, PartialSendError } from "../../src/errors.js";
import { silentLogger } from "../../src/logger.js";
import { redisNamespace, type RedisNamespace } from "../support/redis-namespace.js";
import { newApp, startWorker } from "./helpers.js";

describe("sendMany and delayMany", () => {
  it("send every call in chunks, each with its own id, and the worker runs them all", async () => {
    const app = newApp();
    const double = app.task("double", async (x: number) => x * 2);
    const broker = await app.broker();
    const batches: number[] = [];
    const publishMany = broker.publishMany.bind(broker);
    broker.publishMany = async (batch) => {
      batches.push(batch.length);
      return publishMany(batch);
    };
    const results = await double.delayMany(
      Array.from({ length: 25 }, (_, i) => [i] as [number]),
      { chunkSize: 10 },
    );
    expect(batches).toEqual([10, 10, 5]);
    expect(new Set(results.map((r) => r.id)).size).toBe(25);
    await startWorker(app);
    expect(await Promise.all(results.map((r) => r.get({ timeoutMs: 15_000 })))).toEqual(Array.from({ length: 25 }, (_, i) => i * 2));
  });

  it("refuse a bad argument list before sending anything", async () => {
    const app = newApp();
    const broker = await app.broker();
    let published = 0;
    broker.publishMany = async (batch) => {
      published += batch.length;
    };
    await expect(app.sendMany("t", [[1], 2 as unknown as unknown[]])).rejects.toThrow(/argsList\[1\] of sendMany\("t"\) to be an array/);
    await expect(app.sendMany("t", "x" as unknown as unknown[][])).rejects.toThrow(ConfigError);
    await expect(app.sendMany("t", [[1]], { taskId: "x" } as never)).rejects.toThrow(/cannot take a taskId/);
    await expect(app.sendMany("t", [[1]], { chunkSize: 0 })).rejects.toThrow(/chunkSize to be an integer >= 1, got 0/);
    await expect(app.sendMany("t", [[1]], { priority: 12 })).rejects.toThrow(/priority/);
    expect(published).toBe(0);
  });

  it("say how many calls went out when a chunk fails", async () => {
    const app = newApp();
    const broker: Broker = await app.broker();
    let calls = 0;
    const publishMany = broker.publishMany.bind(broker);
    broker.publishMany = async (batch) => {
      if (++calls === 2) throw new Error("connection reset");
      return publishMany(batch);
    };
    const error = await app.sendMany("t", [[1], [2], [3], [4], [5]], { chunkSize: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PartialSendError);
    expect(error).toMatchObject({ sent: 2, total: 5 });
    expect((error as Error).message).toMatch(/published 2 of 5 calls, then failed: connection reset; .* send the remaining 3 again/);
  });
});

describe("sendMany on Redis", () => {
  let ns: RedisNamespace;
  let app: App;
  afterEach(async () => {
    await app?.close();
    await ns?.cleanup();
  });

  it("one MULTI per chunk puts every message on kombu's list in order", async () => {
    ns = await redisNamespace();
    app = createApp({ broker: ns.url, backend: ns.url }, { log: silentLogger });
    const results = await app.sendMany(
      "bulk.t",
      Array.from({ length: 1500 }, (_, i) => [i]),
      { chunkSize: 1000 },
    );
    const list = await ns.redis.lrange(`${ns.prefix}celery`, 0, -1);
    expect(list).toHaveLength(1500);
    // LPUSH onto the head, served from the tail: the tail holds the first call.
    const served = list.reverse().map((raw) => JSON.parse(raw).headers.id as string);
    expect(served).toEqual(results.map((r) => r.id));
    expect(await ns.redis.smembers(`${ns.prefix}_kombu.binding.celery`)).toEqual(["celery\x06\x16\x06\x16celery"]);
  });
});

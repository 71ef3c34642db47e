import { afterEach, expect, it } from "vitest";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { SCRIPTS } from "../../src/backends/redis/scripts.js";
import { MemoryBroker } from "../../src/brokers/memory/memory-broker.js";
import { RedisBroker } from "../../src/brokers/redis/redis-broker.js";
import { manualClock } from "../../src/clock.js";
import { redisNamespace, type RedisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";
import { textMessage } from "../support/transport-messages.js";

// RedisBackend.finishWith: a result stored and its message acked in one script call, when the
// broker is on the same Redis database; nothing shared otherwise.

const VT = 1_000;

function request(taskId: string, result: unknown): StoreRequest {
  return { taskId, status: "SUCCESS", result, traceback: null, children: [], lifetimeMs: 60_000, tier: null, action: "delete" };
}

await describeWithService("redis", "redis finish step (store + ack in one script)", () => {
  let ns: RedisNamespace;
  const closing: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of closing.splice(0)) await c.close();
    await ns.cleanup();
  });

  async function stores(url = ns.url) {
    const clock = manualClock();
    const broker = await RedisBroker.connect({ url, clock });
    const backend = await new RedisBackend({ url, clock }).connect();
    closing.push(broker, backend);
    return { broker, backend, clock };
  }

  it("is offered only for a Redis broker on the same database", async () => {
    ns = await redisNamespace();
    const { backend } = await stores();
    const other = await RedisBroker.connect({ url: ns.url.replace("/0?", "/1?") });
    const memory = new MemoryBroker();
    closing.push(other, memory);
    expect(backend.finishWith(other)).toBeNull();
    expect(backend.finishWith(memory)).toBeNull();
    const { broker } = await stores();
    expect(backend.finishWith(broker)).toBeTypeOf("function");
  });

  it("stores every result and acks every message of tasks finishing together, in one script call", async () => {
    ns = await redisNamespace();
    const { broker, backend } = await stores();
    const finish = backend.finishWith(broker)!;
    for (let i = 0; i < 20; i++) await broker.publish(textMessage(`m${i}`), { queue: "q", priority: 0, availableAt: null });
    const got = await broker.fetch(["q"], 20, { visibilityTimeoutMs: VT, waitMs: 0 });
    expect(got).toHaveLength(20);
    expect(await ns.redis.hlen(`${ns.prefix}unacked`)).toBe(20);
    const run = SCRIPTS.finish.run.bind(SCRIPTS.finish);
    let calls = 0;
    SCRIPTS.finish.run = (...args) => {
      calls++;
      return run(...args);
    };
    try {
      const outcomes = await Promise.all(got.map((d, i) => finish(request(`id-${i}`, i), d)));
      expect(outcomes.every((o) => o.stored)).toBe(true);
    } finally {
      SCRIPTS.finish.run = run;
    }
    expect(calls).toBe(1);
    expect(await ns.redis.hlen(`${ns.prefix}unacked`)).toBe(0);
    expect(await ns.redis.zcard(`${ns.prefix}unacked_index`)).toBe(0);
    const lookup = await backend.lookup("id-7", { graceMs: 60_000 });
    expect(lookup).toMatchObject({ kind: "found", result: { status: "SUCCESS", result: 7 } });
    // Celery's bytes, with a TTL: Python reads it as its own.
    const raw = JSON.parse((await ns.redis.get(`${ns.prefix}celery-task-meta-id-7`))!);
    expect(raw).toMatchObject({ status: "SUCCESS", result: 7, task_id: "id-7" });
    expect(await ns.redis.pttl(`${ns.prefix}celery-task-meta-id-7`)).toBeGreaterThan(50_000);
  });

  it("stores but does not ack a message whose lease another worker has taken over", async () => {
    ns = await redisNamespace();
    const { broker, backend, clock } = await stores();
    const finish = backend.finishWith(broker)!;
    await broker.publish(textMessage("m"), { queue: "q", priority: 0, availableAt: null });
    const [stale] = await broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    clock.advance(VT * 2);
    const [current] = await broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    expect(current).toBeDefined();
    const outcome = await finish(request("id-x", "first"), stale!);
    expect(outcome.stored).toBe(true);
    // The new holder's lease is untouched: its message is still unacked, and comes back if it dies.
    expect(await ns.redis.hlen(`${ns.prefix}unacked`)).toBe(1);
    // A second finish of the same task keeps the ready result and reports it.
    const again = await finish(request("id-x", "second"), current!);
    expect(again).toMatchObject({ stored: false, result: { result: "first" } });
    expect(await ns.redis.hlen(`${ns.prefix}unacked`)).toBe(0);
  });
});

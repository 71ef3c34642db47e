import { afterEach, beforeEach, expect, it } from "vitest";
import type { Delivery } from "../../src/brokers/broker.js";
import { RedisKeys } from "../../src/brokers/redis/keys.js";
import { restoreExpired } from "../../src/brokers/redis/restore.js";
import { manualClock } from "../../src/clock.js";
import { describeWithService } from "../support/services.js";
import { bodies, textMessage } from "../support/transport-messages.js";
import { bodyOfEntry, envelopeOf, namespace, type Namespace } from "./redis-broker-helpers.js";

// Store-only cases: several brokers (processes, in production) racing on one Redis. Exactly-once
// leasing, the unacked_mutex and extend-versus-restore depend on the Lua scripts and on kombu's
// keys, which the shared suite (one broker at a time) does not exercise.

const VT = 1_000;

await describeWithService("redis", "redis broker: brokers racing on one Redis", () => {
  let ns: Namespace;
  beforeEach(async () => {
    ns = await namespace();
  });
  afterEach(() => ns.cleanup());
  const key = (name: string): string => `${ns.prefix}${name}`;

  it("two brokers fetching at once from one queue get each of 500 messages exactly once", async () => {
    const [a, b, publisher] = await Promise.all([ns.broker(), ns.broker(), ns.broker()]);
    const sent = Array.from({ length: 500 }, (_, i) => `m${i}`);
    await Promise.all(sent.map((raw, i) => publisher.publish(textMessage(raw), { queue: "q", priority: i % 10, availableAt: null })));
    const drain = async (broker: typeof a, max: number): Promise<Delivery[]> => {
      const got: Delivery[] = [];
      for (;;) {
        // Some waits, so BRPOP races the batch script too.
        const batch = await broker.fetch(["q"], max, { visibilityTimeoutMs: 60_000, waitMs: got.length % 3 === 0 ? 30 : 0 });
        if (batch.length === 0) return got;
        got.push(...batch);
        await Promise.all(batch.map((d) => broker.ack(d)));
      }
    };
    const [fromA, fromB] = await Promise.all([drain(a, 7), drain(b, 13)]);
    const all = bodies([...fromA, ...fromB]);
    expect(all).toHaveLength(500);
    expect(new Set(all)).toEqual(new Set(sent));
    expect(fromA.length).toBeGreaterThan(0);
    expect(fromB.length).toBeGreaterThan(0);
    expect(await ns.redis.exists(key("unacked"), key("unacked_index"))).toBe(0);
  });

  it("two restores at once put each expired message back once (unacked_mutex, then a score check per message)", async () => {
    const broker = await ns.broker();
    for (let i = 0; i < 150; i++) await broker.publish(textMessage(`m${i}`), { queue: "q", priority: i % 10, availableAt: null });
    // 100 per script call at most (MAX_BATCH), so two calls.
    expect(await broker.fetch(["q"], 150, { visibilityTimeoutMs: VT, waitMs: 0 })).toHaveLength(100);
    expect(await broker.fetch(["q"], 150, { visibilityTimeoutMs: VT, waitMs: 0 })).toHaveLength(50);
    const keys = new RedisKeys(ns.prefix);
    const now = ns.clock() + VT;
    const other = ns.redis.duplicate();
    const results = await Promise.all([restoreExpired(ns.redis, keys, now - VT, now), restoreExpired(other, keys, now - VT, now)]);
    await other.quit();
    expect(results.reduce((n, r) => n + (r?.restored ?? 0), 0)).toBe(150);
    const lists = await Promise.all(keys.lists("q").map((l) => ns.redis.lrange(l, 0, -1)));
    expect(lists.flat().map(bodyOfEntry).sort()).toEqual(Array.from({ length: 150 }, (_, i) => `m${i}`).sort());
    expect(await ns.redis.exists(key("unacked"), key("unacked_index"), key("unacked_mutex"))).toBe(0);
  });

  it("two brokers finding the same expired leases hand each message out once more, redelivered", async () => {
    const clock = manualClock();
    const [a, b] = await Promise.all([ns.broker({ clock }), ns.broker({ clock })]);
    for (let i = 0; i < 40; i++) await a.publish(textMessage(`m${i}`), { queue: "q", priority: 0, availableAt: null });
    expect(await a.fetch(["q"], 40, { visibilityTimeoutMs: VT, waitMs: 0 })).toHaveLength(40);
    clock.advance(VT);
    const [fromA, fromB] = await Promise.all([
      a.fetch(["q"], 40, { visibilityTimeoutMs: VT, waitMs: 200 }),
      b.fetch(["q"], 40, { visibilityTimeoutMs: VT, waitMs: 200 }),
    ]);
    const again = [...fromA, ...fromB];
    expect(bodies(again).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `m${i}`).sort());
    expect(again.every((d) => d.redelivered)).toBe(true);
  });

  it("extend keeps a lease from being restored by another broker, and by Python's ZREVRANGEBYSCORE", async () => {
    const [worker, other] = await Promise.all([ns.broker(), ns.broker()]);
    await worker.publish(textMessage("long task"), { queue: "q", priority: 0, availableAt: null });
    const [d] = await worker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    for (let i = 0; i < 5; i++) {
      ns.clock.advance(VT - 100);
      await worker.extend([d!], VT);
      expect(await other.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 })).toEqual([]);
      const ceiling = (ns.clock() - VT) / 1000;
      expect(await ns.redis.zrevrangebyscore(key("unacked_index"), ceiling, 0)).toEqual([]);
    }
    await worker.ack(d!);
    ns.clock.advance(10 * VT);
    expect(await other.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 })).toEqual([]);
  });

  it("a message BRPOP took for a fetch that was aborted is put back, not lost", async () => {
    const broker = await ns.broker();
    for (let round = 0; round < 30; round++) {
      const controller = new AbortController();
      const pending = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 5_000, signal: controller.signal });
      await new Promise((r) => setTimeout(r, 5));
      // A client pushes while the fetch is being aborted; the order at the server varies by round.
      const pushed = ns.redis.lpush(key("q"), envelopeOf(`r${round}`));
      for (let i = 0; i < round % 3; i++) await new Promise((r) => setImmediate(r));
      controller.abort();
      const got = await pending;
      await pushed;
      const [d] = got.length > 0 ? got : await broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 1_000 });
      expect(bodies([d!])).toEqual([`r${round}`]);
      await broker.ack(d!);
    }
  });
});

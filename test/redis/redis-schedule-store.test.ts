import { afterEach, beforeEach, expect, it } from "vitest";
import type { ClaimRequest, FireClaim, ScheduleStore } from "../../src/beat/schedule-store.js";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { manualClock } from "../../src/clock.js";
import { redisNamespace, type RedisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";

// Store-only: the shared schedule-store suite sees what the contract returns, not which keys stay
// behind. Here: the per-tick claim key is a SET NX with a TTL, every key left in the namespace
// has a reason to be there, and a refused claim writes nothing.

const T0 = Date.UTC(2026, 0, 1);
const TTL = 600_000;

function fire(tick: number): FireClaim {
  return {
    tick,
    taskId: `task-${tick}`,
    catchUp: false,
    message: { raw: `{"tick":${tick}}`, queue: "celery", priority: 0, availableAt: null },
  };
}

function claim(over: Partial<ClaimRequest> & Pick<ClaimRequest, "lastTick">): ClaimRequest {
  return {
    entry: "e",
    expect: null,
    schedule: "every 1s",
    nextTick: over.lastTick + 1_000,
    fires: [],
    missed: 0,
    historyLimit: 100,
    claimTtlMs: TTL,
    ...over,
  };
}

await describeWithService("redis", "redis schedule store: keys", () => {
  let ns: RedisNamespace;
  let backend: RedisBackend;
  let store: ScheduleStore;
  const key = (name: string): string => `${ns.prefix}ebb:beat:${name}`;

  /** Every key under the namespace, by SCAN, without the prefix. */
  async function namespaceKeys(): Promise<string[]> {
    const found: string[] = [];
    for (let cursor = "0"; ; ) {
      const [next, keys] = await ns.redis.scan(cursor, "MATCH", `${ns.prefix}*`, "COUNT", 1000);
      found.push(...keys.map((k) => k.slice(ns.prefix.length)));
      cursor = next;
      if (cursor === "0") return found.sort();
    }
  }

  beforeEach(async () => {
    ns = await redisNamespace();
    const clock = manualClock(T0 + 5_000);
    backend = await new RedisBackend({ url: ns.url, clock }).connect();
    store = backend.scheduleStore();
    await store.claim(claim({ lastTick: T0 }));
  });
  afterEach(async () => {
    await backend.close();
    await ns.cleanup();
  });

  it("is one cached store per backend", () => {
    expect(backend.scheduleStore()).toBe(store);
  });

  it("takes each claimed tick with a key that expires: PTTL in (0, claimTtlMs], holding the task id", async () => {
    await store.claim(claim({ expect: { lastTick: T0, schedule: "every 1s" }, lastTick: T0 + 1_000, fires: [fire(T0 + 1_000)] }));
    const pttl = await ns.redis.pttl(key(`claim:e:${T0 + 1_000}`));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(TTL);
    expect(await ns.redis.get(key(`claim:e:${T0 + 1_000}`))).toBe(`task-${T0 + 1_000}`);
  });

  it("leaves only keys with a reason to exist: the entry, its history, live claim keys, the outbox while unsent, the runs", async () => {
    expect(await namespaceKeys()).toEqual(["ebb:beat:entry:e"]);
    await store.claim(
      claim({ expect: { lastTick: T0, schedule: "every 1s" }, lastTick: T0 + 2_000, fires: [fire(T0 + 1_000), fire(T0 + 2_000)] }),
    );
    expect(await namespaceKeys()).toEqual([
      `ebb:beat:claim:e:${T0 + 1_000}`,
      `ebb:beat:claim:e:${T0 + 2_000}`,
      "ebb:beat:entry:e",
      "ebb:beat:fires:e",
      "ebb:beat:unsent",
    ]);
    // The outbox copy is the history member itself, byte for byte, so markSent can find and drop it.
    expect((await ns.redis.zrange(key("unsent"), 0, -1)).sort()).toEqual((await ns.redis.zrange(key("fires:e"), 0, -1)).sort());

    await store.markSent("e", T0 + 1_000);
    await store.markSent("e", T0 + 2_000);
    // Sent: the unsent zset is empty, so Redis drops it, and no message stays in the history.
    expect(await namespaceKeys()).not.toContain("ebb:beat:unsent");
    for (const member of await ns.redis.zrange(key("fires:e"), 0, -1)) expect(JSON.parse(member)).not.toHaveProperty("message");

    await store.recordRun({
      task: "ebb.cleanup",
      taskId: null,
      startedAt: T0,
      durationMs: 1,
      tier: null,
      olderThanMs: null,
      dryRun: true,
      matched: 0,
      removed: 0,
      bytes: 0,
      archived: 0,
      archiveFile: null,
      trimmed: 0,
      errors: [],
    });
    expect(await namespaceKeys()).toEqual([
      `ebb:beat:claim:e:${T0 + 1_000}`,
      `ebb:beat:claim:e:${T0 + 2_000}`,
      "ebb:beat:entry:e",
      "ebb:beat:fires:e",
      "ebb:beat:runs",
    ]);
    expect(Object.keys(await ns.redis.hgetall(key("entry:e"))).sort()).toEqual([
      "catch_ups",
      "fired",
      "last_fire",
      "last_tick",
      "missed",
      "next_tick",
      "schedule",
    ]);
  });

  it("a refused claim writes nothing: no claim key for the ticks it did not get", async () => {
    await store.claim(claim({ expect: { lastTick: T0, schedule: "every 1s" }, lastTick: T0 + 1_000, fires: [fire(T0 + 1_000)] }));
    const before = await namespaceKeys();
    const refused = await store.claim(
      claim({ expect: { lastTick: T0 + 1_000, schedule: "every 1s" }, lastTick: T0 + 2_000, fires: [fire(T0 + 2_000), fire(T0 + 1_000)] }),
    );
    expect(refused.ok).toBe(false);
    expect(await namespaceKeys()).toEqual(before);
    expect(await ns.redis.exists(key(`claim:e:${T0 + 2_000}`))).toBe(0);
  });

  it("a tick still in the history stays taken after its claim key has expired", async () => {
    await store.claim(claim({ expect: { lastTick: T0, schedule: "every 1s" }, lastTick: T0 + 1_000, fires: [fire(T0 + 1_000)] }));
    await ns.redis.unlink(key(`claim:e:${T0 + 1_000}`)); // as if its TTL had run out
    const again = await store.claim(
      claim({ expect: { lastTick: T0 + 1_000, schedule: "every 1s" }, lastTick: T0 + 1_000, fires: [fire(T0 + 1_000)] }),
    );
    expect(again.ok).toBe(false);
  });

  it("trimming the history drops a trimmed fire's outbox copy too, so unsent() never returns a fire the history forgot", async () => {
    for (let i = 1; i <= 4; i++) {
      await store.claim(
        claim({
          expect: { lastTick: T0 + (i - 1) * 1_000, schedule: "every 1s" },
          lastTick: T0 + i * 1_000,
          fires: [fire(T0 + i * 1_000)],
          historyLimit: 2,
        }),
      );
    }
    expect(await ns.redis.zcard(key("fires:e"))).toBe(2);
    expect(await ns.redis.zcard(key("unsent"))).toBe(2);
    expect((await store.unsent(0, T0 + 10_000, 10)).map((u) => u.tick)).toEqual([T0 + 3_000, T0 + 4_000]);
    expect(await store.markSent("e", T0 + 1_000)).toBe(false);
  });
});

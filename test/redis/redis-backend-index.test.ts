import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import { RedisServer } from "../support/redis-server.js";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import { SCRIPTS } from "../../src/backends/redis/scripts.js";
import { shardOf } from "../../src/backends/redis/tombstones.js";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { manualClock } from "../../src/clock.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";

// Store-only: the ttl/no-ttl index and its trimming are how Redis remembers expired ids once their
// TTL has removed them, and how nothing ever needs KEYS; other stores keep tombstone rows instead.
const GRACE_MS = 60_000;

function request(taskId: string, over: Partial<StoreRequest> = {}): StoreRequest {
  return { taskId, status: "SUCCESS", result: 1, traceback: null, children: [], lifetimeMs: 0, tier: null, action: "delete", ...over };
}

await describeWithService("redis", "redis result backend: the index", () => {
  // A private redis-server: MONITOR sees only this test's commands (see test/support/redis-server.ts).
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(() => server.destroy());
  let ns: Awaited<ReturnType<typeof redisNamespace>>;
  let clock: ReturnType<typeof manualClock>;
  let backend: RedisBackend;
  const ttlIndex = () => `${ns.prefix}ebb:results:ttl`;
  const noTtlIndex = () => `${ns.prefix}ebb:results:no-ttl`;
  const info = () => `${ns.prefix}ebb:results:info`;

  /** Results with a tier, so each has a ttl-index entry (a default result has a compact record instead). */
  async function storeMany(n: number, over: Partial<StoreRequest> = {}, from = 0): Promise<void> {
    for (let i = from; i < from + n; i += 250) {
      await Promise.all(
        Array.from({ length: Math.min(250, from + n - i) }, (_, j) => backend.store(request(`t-${i + j}`, { tier: "bulk", ...over }))),
      );
    }
  }

  beforeEach(async () => {
    ns = await redisNamespace(server.port);
    clock = manualClock();
    // A long trim interval: these tests decide when trimming runs, except where they say otherwise.
    backend = await new RedisBackend({ url: ns.url, clock, graceMs: GRACE_MS, trimIntervalMs: 3_600_000 }).connect();
  });
  afterEach(async () => {
    await backend.close();
    await ns.cleanup();
  });

  it("keeps an info entry only for results that differ from the default", async () => {
    await backend.store(request("plain", { lifetimeMs: 60_000 }));
    await backend.store(request("tiered", { lifetimeMs: 60_000, tier: "api" }));
    await backend.store(request("archived", { lifetimeMs: 60_000, tier: "audit", action: "archive" }));
    await backend.store(request("running", { status: "STARTED", lifetimeMs: 60_000 }));
    expect(await ns.redis.hgetall(info())).toEqual({ tiered: "0api", archived: "1audit", running: "4" });
    // The final store of "running" replaces its entry: a ready, default result needs none.
    await backend.store(request("running", { lifetimeMs: 60_000 }));
    expect(await ns.redis.hexists(info(), "running")).toBe(0);
  });

  it("trims entries whose grace window is over, at most one batch per script call", async () => {
    await storeMany(2_500);
    await backend.store(request("never", { lifetimeMs: null }));
    await backend.store(request("to-archive", { tier: "audit", action: "archive" }));
    await backend.store(request("held", { lifetimeMs: 60_000 }));
    await backend.setHeld("held", true);
    expect(await ns.redis.zcard(ttlIndex())).toBe(2_500);

    clock.advance(GRACE_MS - 1);
    expect(await backend.trimIndex()).toBe(0);
    expect((await backend.lookup("t-7", { graceMs: GRACE_MS })).kind).toBe("expired");

    clock.advance(1);
    const one = Number(
      await SCRIPTS.trim.run(ns.redis, [ttlIndex(), info(), `${ns.prefix}ebb:results:archived`], [clock() - GRACE_MS, 1_000]),
    );
    expect(one).toBe(1_000);
    expect(await ns.redis.zcard(ttlIndex())).toBe(1_500);
    expect(await backend.trimIndex()).toBe(1_500);
    expect(await ns.redis.zcard(ttlIndex())).toBe(0);
    expect((await backend.lookup("t-7", { graceMs: GRACE_MS })).kind).toBe("missing");

    // What has no TTL stays indexed however old it is: the never-expiring, the archive-pending, the held.
    clock.advance(365 * 86_400_000);
    await backend.trimIndex();
    expect(await ns.redis.zrange(noTtlIndex(), 0, -1)).toEqual(["to-archive", "held", "never"]);
    expect(await ns.redis.hgetall(info())).toEqual({ "to-archive": "1audit", held: "2" });
  });

  it("indexes a default result by its 12-byte record alone, and reads its exact expiry from it", async () => {
    const { result } = await backend.store(request("plain", { lifetimeMs: 60_000 }));
    expect(await ns.redis.zscore(ttlIndex(), "plain")).toBeNull();
    expect(await ns.redis.hexists(info(), "plain")).toBe(0);
    const shard = shardOf("plain");
    expect(await ns.redis.strlen(`${ns.prefix}ebb:results:expired:${shard}:new`)).toBe(12);
    expect(await backend.lookup("plain", { graceMs: GRACE_MS })).toMatchObject({ kind: "found", result: { expiresAt: result.expiresAt } });
    // STARTED first (in progress: indexed with its flag), then the final default store replaces that entry.
    await backend.store(request("later", { status: "STARTED", lifetimeMs: 60_000 }));
    expect(await ns.redis.zscore(ttlIndex(), "later")).not.toBeNull();
    await backend.store(request("later", { lifetimeMs: 5_000 }));
    expect(await ns.redis.zscore(ttlIndex(), "later")).toBeNull();
    expect(await ns.redis.hexists(info(), "later")).toBe(0);
    // Forgotten: unknown, also once its recorded expiry has passed.
    expect(await backend.forget("plain")).toBe(true);
    clock.advance(120_000);
    expect((await backend.lookup("plain", { graceMs: GRACE_MS })).kind).toBe("missing");
  });

  it("a long-running process trims by itself: store() starts a trim at most once per interval", async () => {
    const busy = await new RedisBackend({ url: ns.url, clock, graceMs: GRACE_MS, trimIntervalMs: 0, trimBatch: 100 }).connect();
    try {
      await storeMany(1_000);
      clock.advance(GRACE_MS);
      await busy.store(request("late", { lifetimeMs: 60_000, tier: "bulk" }));
      await expect.poll(() => ns.redis.zcard(ttlIndex()), { timeout: 5_000 }).toBe(1);
      expect(await ns.redis.zrange(ttlIndex(), 0, -1)).toEqual(["late"]);
    } finally {
      await busy.close();
    }
  });

  it("a lookup with a longer grace than the backend's keeps trimming from forgetting ids that reader expects", async () => {
    await backend.store(request("t-long-grace"));
    await backend.lookup("t-long-grace", { graceMs: 10 * GRACE_MS });
    clock.advance(2 * GRACE_MS);
    expect(await backend.trimIndex()).toBe(0);
    expect((await backend.lookup("t-long-grace", { graceMs: 10 * GRACE_MS })).kind).toBe("expired");
  });

  it("a MONITOR connection sees no KEYS command during store, lookup, hold, forget, watch and trim", async () => {
    const monitor = await ns.redis.monitor();
    const seen: { args: string[]; source: string }[] = [];
    monitor.on("monitor", (_time: string, args: string[], source: string) => seen.push({ args, source }));
    try {
      await storeMany(20);
      await backend.store(request("kept", { lifetimeMs: null, tier: "critical" }));
      await backend.lookup("t-3", { graceMs: GRACE_MS });
      await backend.lookup("kept", { graceMs: GRACE_MS });
      await backend.lookup("nobody", { graceMs: GRACE_MS });
      await backend.setHeld("kept", true);
      await backend.forget("t-4");
      const watch = await backend.watch("t-5");
      watch.close();
      clock.advance(GRACE_MS);
      expect(await backend.trimIndex()).toBe(19);
      await ns.redis.ping(); // anything after this in the monitor stream was sent after our commands
      await expect.poll(() => seen.some((c) => c.args[0]?.toLowerCase() === "ping")).toBe(true);
    } finally {
      monitor.disconnect();
    }
    const ours = seen.filter((c) => c.args.some((a) => a.includes(ns.prefix) || a.startsWith("t-")));
    const ourSources = new Set(ours.map((c) => c.source).filter((s) => s !== "lua"));
    expect(ours.length).toBeGreaterThan(20);
    const keys = seen.filter(
      (c) => c.args[0]?.toLowerCase() === "keys" && (ourSources.has(c.source) || c.args.some((a) => a.includes(ns.prefix))),
    );
    expect(keys).toEqual([]);
    // Deletes are UNLINKs, never DELs.
    expect(ours.filter((c) => c.args[0]?.toLowerCase() === "del")).toEqual([]);
    expect(ours.some((c) => c.args[0]?.toLowerCase() === "unlink")).toBe(true);
  });
});

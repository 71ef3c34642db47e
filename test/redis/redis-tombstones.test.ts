import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { TombstoneCompactor } from "../../src/backends/redis/tombstone-compactor.js";
import {
  encodeRecord,
  findInSorted,
  mergeShard,
  RECORD_BYTES,
  recordKey,
  shardOf,
  tombstoneKeys,
} from "../../src/backends/redis/tombstones.js";
import { resultKeys } from "../../src/backends/redis/result-keys.js";
import { SCRIPTS } from "../../src/backends/redis/scripts.js";
import { manualClock } from "../../src/clock.js";
import { redisNamespace, type RedisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";

// The compact memory of expired ids: 14 bytes per id instead of a ttl-index entry, exact reads.

const GRACE_MS = 7 * 86_400_000;
const HOUR = 3_600_000;

function request(taskId: string, over: Partial<StoreRequest> = {}): StoreRequest {
  return { taskId, status: "SUCCESS", result: 1, traceback: null, children: [], lifetimeMs: 1_000, tier: null, action: "delete", ...over };
}

describe("compact tombstone records", () => {
  it("merge sorts, keeps the latest expiry per id, and drops what is past the cutoff", () => {
    const rec = (id: string, at: number) => encodeRecord(recordKey(id), at);
    const sorted = mergeShard(Buffer.concat([rec("b", 2_000), rec("a", 5_000)]), Buffer.alloc(0), 0);
    const tail = Buffer.concat([rec("c", 3_000), rec("a", 9_000), rec("old", 500)]);
    const merged = mergeShard(sorted, tail, 1_000);
    expect(merged.length).toBe(3 * RECORD_BYTES);
    expect(findInSorted(merged, "a")).toBe(9_000);
    expect(findInSorted(merged, "b")).toBe(2_000);
    expect(findInSorted(merged, "c")).toBe(3_000);
    expect(findInSorted(merged, "old")).toBeNull();
    expect(findInSorted(merged, "never")).toBeNull();
    for (let o = RECORD_BYTES; o < merged.length; o += RECORD_BYTES)
      expect(Buffer.compare(merged.subarray(o - RECORD_BYTES, o - 6), merged.subarray(o, o + 6))).toBeLessThan(0);
  });

  it("keeps the expiry to the millisecond, for times far ahead", () => {
    const at = Date.UTC(2400, 0, 1, 0, 0, 0, 123);
    expect(findInSorted(mergeShard(encodeRecord(recordKey("x"), at), Buffer.alloc(0), 0), "x")).toBe(at);
  });
});

/** A compactor of its own on the test's namespace: due at once, batches of 1000. */
function compactorFor(ns: RedisNamespace, clock: () => number): TombstoneCompactor {
  return new TombstoneCompactor({
    redis: () => ns.redis,
    keys: resultKeys(ns.prefix),
    prefix: ns.prefix,
    now: clock,
    graceMs: () => GRACE_MS,
    compactAfterMs: 0,
    batch: 1_000,
  });
}

await describeWithService("redis", "redis compact tombstones", () => {
  let ns: RedisNamespace;
  let clock: ReturnType<typeof manualClock>;
  let backend: RedisBackend;

  beforeEach(async () => {
    ns = await redisNamespace();
    clock = manualClock();
    backend = await new RedisBackend({ url: ns.url, clock, trimIntervalMs: 3_600_000, compactAfterMs: 10 * 60_000 }).connect();
  });
  afterEach(async () => {
    await backend.close();
    await ns.cleanup();
  });

  const lookup = (id: string) => backend.lookup(id, { graceMs: GRACE_MS });

  it("moves expired ids out of the ttl index after compactAfterMs, and they read EXPIRED at the same instant as before", async () => {
    const storedAt = clock();
    const n = 3_000;
    for (let i = 0; i < n; i += 500)
      await Promise.all(
        Array.from({ length: 500 }, (_, j) => backend.store(request(`r-${i + j}`, { lifetimeMs: 1 + ((i + j) % 50), tier: "api" }))),
      );
    await backend.store(request("running", { status: "STARTED", lifetimeMs: 1 }));
    await backend.store(request("live", { lifetimeMs: 24 * HOUR, tier: "api" }));
    // With a tier, each has a ttl-index entry (a default result is stored as a record at once).
    // Redis's TTLs run in real time: wait until every short-lived value is gone.
    await expect
      .poll(async () => ns.redis.exists(...Array.from({ length: n }, (_, i) => `${ns.prefix}celery-task-meta-r-${i}`)), { timeout: 5_000 })
      .toBe(0);

    clock.advance(5 * 60_000);
    await backend.trimIndex();
    // Not yet due: still in the zset.
    expect(await ns.redis.zcard(`${ns.prefix}ebb:results:ttl`)).toBe(n + 2);

    clock.advance(10 * 60_000);
    await backend.trimIndex();
    expect(await ns.redis.zrange(`${ns.prefix}ebb:results:ttl`, 0, -1)).toEqual(["live"]);
    expect(await ns.redis.hexists(`${ns.prefix}ebb:results:info`, "running")).toBe(0);
    for (const i of [0, 42, 1234, n - 1]) {
      const got = await lookup(`r-${i}`);
      expect(got).toEqual({ kind: "expired", taskId: `r-${i}`, expiredAt: storedAt + 1 + (i % 50) });
    }
    // In progress when its value went: unknown, as before compaction.
    expect((await lookup("running")).kind).toBe("missing");
    expect((await lookup("never-stored")).kind).toBe("missing");
    expect((await lookup("live")).kind).toBe("found");
  });

  it("costs at most 16 bytes per expired id (default results: their record from the start), and forgets ids once the grace window is over", async () => {
    const n = 30_000;
    for (let i = 0; i < n; i += 1_000)
      await Promise.all(Array.from({ length: 1_000 }, (_, j) => backend.store(request(`m-${i + j}`, { lifetimeMs: 1 }))));
    clock.advance(HOUR);
    await backend.trimIndex();
    expect(await ns.redis.zcard(`${ns.prefix}ebb:results:ttl`)).toBe(0);
    const compactor = compactorFor(ns, clock);
    // A compactor's first run merges every shard (as each does hourly): measure the settled layout.
    await compactor.run();
    const keys = tombstoneKeys(ns.prefix);
    let bytes = 0;
    for (let s = 0; s < 256; s++) {
      const shard = s.toString(16).padStart(2, "0");
      bytes += Number((await ns.redis.memory("USAGE", keys.sorted(shard))) ?? 0);
      bytes += Number((await ns.redis.memory("USAGE", keys.tail(shard))) ?? 0);
    }
    bytes += Number((await ns.redis.memory("USAGE", keys.generation)) ?? 0);
    expect(bytes / n).toBeLessThanOrEqual(16);
    expect((await lookup("m-777")).kind).toBe("expired");

    // Past the grace window: a merge drops the records (the hourly full merge does every shard).
    clock.advance(GRACE_MS);
    for (let s = 0; s < 256; s++) await compactor.merge(s.toString(16).padStart(2, "0"));
    expect((await lookup("m-777")).kind).toBe("missing");
    expect(await ns.redis.exists(keys.sorted(shardOf("m-777")))).toBe(0);
  });

  it("a merge that lost the race to another changes nothing, and records appended meanwhile survive", async () => {
    await Promise.all(Array.from({ length: 200 }, (_, i) => backend.store(request(`x-${i}`, { lifetimeMs: 1 }))));
    clock.advance(HOUR);
    await backend.trimIndex();
    const shard = shardOf("x-1");
    const make = () => compactorFor(ns, clock);
    // Append one more id to this shard's tail, then two merges read the same generation at once.
    let extra = "";
    for (let i = 0; shardOf(extra) !== shard; i++) extra = `extra-${i}`;
    await backend.store(request(extra, { lifetimeMs: 1 }));
    clock.advance(HOUR);
    await make().run(); // moves extra into the tail (and merges)
    const [a, b] = await Promise.all([make().merge(shard), make().merge(shard)]);
    expect([a, b].filter(Boolean).length).toBeGreaterThanOrEqual(1);
    expect((await lookup(extra)).kind).toBe("expired");
    expect((await lookup("x-1")).kind).toBe("expired");
  });

  it("a merge read before a forget cannot write the forgotten record back", async () => {
    await backend.store(request("gone", { lifetimeMs: 60_000 }));
    const keys = tombstoneKeys(ns.prefix);
    const shard = shardOf("gone");
    const gen = (await ns.redis.hget(keys.generation, shard)) ?? "";
    const tail = (await ns.redis.getBuffer(keys.tail(shard)))!;
    const merged = mergeShard(Buffer.alloc(0), tail, 0);
    expect(findInSorted(merged, "gone")).not.toBeNull();
    // The forget lands between that merge's read and its swap.
    expect(await backend.forget("gone")).toBe(true);
    const swapped = await SCRIPTS.swapTombstones.run(
      ns.redis,
      [keys.sorted(shard), keys.tail(shard), keys.generation],
      [shard, gen, merged, tail.length],
    );
    expect(swapped).toBe(0);
    clock.advance(120_000);
    expect((await lookup("gone")).kind).toBe("missing");
  });
});

import { afterEach, beforeEach, expect, it } from "vitest";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { manualClock } from "../../src/clock.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";
import { waitFor as until } from "../support/wait.js";

// Store-only: native TTLs (PTTL) and which index a result sits in are Redis details that the
// shared conformance suite cannot see; it only checks what lookup() reports.
const GRACE = { graceMs: 60_000 };

function request(taskId: string, over: Partial<StoreRequest> = {}): StoreRequest {
  return { taskId, status: "SUCCESS", result: 1, traceback: null, children: [], lifetimeMs: 60_000, tier: null, action: "delete", ...over };
}

await describeWithService("redis", "redis result backend: lifetimes as native TTLs", () => {
  let ns: Awaited<ReturnType<typeof redisNamespace>>;
  let clock: ReturnType<typeof manualClock>;
  let backend: RedisBackend;
  const key = (id: string) => `${ns.prefix}celery-task-meta-${id}`;
  const score = (index: "ttl" | "no-ttl", id: string) => ns.redis.zscore(`${ns.prefix}ebb:results:${index}`, id);

  beforeEach(async () => {
    ns = await redisNamespace();
    clock = manualClock();
    backend = await new RedisBackend({ url: ns.url, clock }).connect();
  });
  afterEach(async () => {
    await backend.close();
    await ns.cleanup();
  });

  it("a result with lifetime 5s gets its own TTL: PTTL is 5000 less the time since the store", async () => {
    const started = performance.now();
    const { result } = await backend.store(request("t-5s", { lifetimeMs: 5_000 }));
    const pttl = await ns.redis.pttl(key("t-5s"));
    // However slow the machine: at most the time that passed has been used up (+1 ms rounding).
    expect(pttl).toBeGreaterThanOrEqual(5_000 - Math.ceil(performance.now() - started) - 1);
    expect(pttl).toBeLessThanOrEqual(5_000);
    // A default result: its compact record (not a ttl-index entry) holds the exact expiry.
    expect(await score("ttl", "t-5s")).toBeNull();
    expect(await score("no-ttl", "t-5s")).toBeNull();
    expect(await backend.lookup("t-5s", { graceMs: 60_000 })).toMatchObject({ kind: "found", result: { expiresAt: result.expiresAt } });
  });

  it("two tasks stored together keep two different lifetimes (Celery has one global TTL)", async () => {
    await backend.store(request("t-short", { lifetimeMs: 300_000 }));
    await backend.store(request("t-long", { lifetimeMs: 30 * 86_400_000 }));
    expect(await ns.redis.pttl(key("t-short"))).toBeLessThanOrEqual(300_000);
    expect(await ns.redis.pttl(key("t-long"))).toBeGreaterThan(29 * 86_400_000);
  });

  it("an archive-tier result has no TTL and is still there after its expiry: it reads EXPIRED until archived", async () => {
    const { result } = await backend.store(request("t-audit", { lifetimeMs: 1_000, tier: "audit", action: "archive" }));
    expect(await ns.redis.pttl(key("t-audit"))).toBe(-1);
    clock.advance(2_000);
    expect(await backend.lookup("t-audit", GRACE)).toEqual({ kind: "expired", taskId: "t-audit", expiredAt: result.expiresAt });
    expect(JSON.parse((await ns.redis.get(key("t-audit")))!)).toMatchObject({ status: "SUCCESS", task_id: "t-audit" });
    expect(Number(await score("no-ttl", "t-audit"))).toBe(result.expiresAt);
    expect(await ns.redis.hget(`${ns.prefix}ebb:results:info`, "t-audit")).toBe("1audit");
  });

  it("a result that never expires (lifetime null) has no TTL and is indexed at +inf", async () => {
    await backend.store(request("t-never", { lifetimeMs: null }));
    expect(await ns.redis.pttl(key("t-never"))).toBe(-1);
    expect(await score("no-ttl", "t-never")).toBe("inf");
    expect(await ns.redis.zcount(`${ns.prefix}ebb:results:no-ttl`, "+inf", "+inf")).toBe(1);
  });

  it("lifetime 0 gets the shortest TTL there is and reads EXPIRED, also once Redis has dropped it", async () => {
    await backend.store(request("t-zero", { lifetimeMs: 0 }));
    // The shortest TTL Redis has (1 ms): gone as soon as Redis's clock moves on.
    await until("Redis to drop t-zero", async () => (await ns.redis.exists(key("t-zero"))) === 0, 1_000);
    expect(await backend.lookup("t-zero", GRACE)).toEqual({ kind: "expired", taskId: "t-zero", expiredAt: clock() });
    clock.advance(GRACE.graceMs);
    expect(await backend.lookup("t-zero", GRACE)).toEqual({ kind: "missing" });
  });

  it("a held result loses its TTL; releasing the hold gives back what is left of its lifetime", async () => {
    await backend.store(request("t-held", { lifetimeMs: 60_000 }));
    expect(await backend.setHeld("t-held", true)).toBe(true);
    expect(await ns.redis.pttl(key("t-held"))).toBe(-1);
    expect(await score("ttl", "t-held")).toBeNull();
    clock.advance(10_000);
    const released = performance.now();
    expect(await backend.setHeld("t-held", false)).toBe(true);
    const pttl = await ns.redis.pttl(key("t-held"));
    expect(pttl).toBeGreaterThanOrEqual(50_000 - Math.ceil(performance.now() - released) - 1);
    expect(pttl).toBeLessThanOrEqual(50_000);
    expect(await ns.redis.hexists(`${ns.prefix}ebb:results:info`, "t-held")).toBe(0);
  });

  it("a hold on an archive-tier result is released without a TTL", async () => {
    await backend.store(request("t-held-audit", { tier: "audit", action: "archive" }));
    await backend.setHeld("t-held-audit", true);
    await backend.setHeld("t-held-audit", false);
    expect(await ns.redis.pttl(key("t-held-audit"))).toBe(-1);
    expect(await ns.redis.hget(`${ns.prefix}ebb:results:info`, "t-held-audit")).toBe("1audit");
  });

  it("a STARTED record that Redis expired reads unknown, not EXPIRED: its task will store again", async () => {
    await backend.store(request("t-started", { status: "STARTED", lifetimeMs: 0 }));
    await until("Redis to drop t-started", async () => (await ns.redis.exists(key("t-started"))) === 0, 1_000);
    expect(await backend.lookup("t-started", GRACE)).toEqual({ kind: "missing" });
  });

  it("uses Redis's clock when none is injected", async () => {
    const redisNow = async () => {
      const [s, us] = await ns.redis.time();
      return Number(s) * 1000 + Number(us) / 1000;
    };
    // The offset to Redis's clock is measured at connect, to within half that round trip.
    const connecting = performance.now();
    const real = await new RedisBackend({ url: ns.url }).connect();
    const slack = Math.ceil((performance.now() - connecting) / 2) + 1;
    try {
      // Bracketed by two readings of Redis's TIME, whatever the machine's load in between.
      const before = await redisNow();
      const now = await real.now();
      const { result } = await real.store(request("t-real-clock", { lifetimeMs: 1_000 }));
      const after = await redisNow();
      expect(now).toBeGreaterThanOrEqual(before - slack);
      expect(now).toBeLessThanOrEqual(after + slack);
      expect(result.dateDone!).toBeGreaterThanOrEqual(now);
      expect(result.dateDone!).toBeLessThanOrEqual(after + slack);
      expect(result.expiresAt).toBe(result.dateDone! + 1_000);
    } finally {
      await real.close();
    }
  });
});

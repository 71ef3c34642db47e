import type { Redis } from "ioredis";
import { afterEach, beforeEach, expect, it } from "vitest";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { manualClock } from "../../src/clock.js";
import { encodeResultMeta } from "../../src/protocol/result-meta.js";
import { listReference, readReference } from "../fixtures/celery-reference.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";

// Store-only: the exact bytes under celery-task-meta-<id>, the PUBLISH that wakes Python's
// AsyncResult.get(), and reading values that Python Celery SET (with no Ebb index) are what make
// the Redis backend interoperate; other stores have no Celery format to match.
const GRACE = { graceMs: 60_000 };

interface ExtendedReference {
  task_id: string;
  raw_value: string;
  pttl: number;
}

await describeWithService("redis", "redis result backend: Celery's bytes", () => {
  let ns: Awaited<ReturnType<typeof redisNamespace>>;
  let clock: ReturnType<typeof manualClock>;
  let backend: RedisBackend;
  const key = (id: string) => `${ns.prefix}celery-task-meta-${id}`;

  beforeEach(async () => {
    ns = await redisNamespace();
    clock = manualClock();
    backend = await new RedisBackend({ url: ns.url, clock }).connect();
  });
  afterEach(async () => {
    await backend.close();
    await ns.cleanup();
  });

  async function subscribe(channel: string): Promise<{ messages: string[]; sub: Redis }> {
    const sub = ns.redis.duplicate();
    const messages: string[] = [];
    sub.on("message", (_c: string, m: string) => messages.push(m));
    await sub.subscribe(channel);
    return { messages, sub };
  }

  it("writes byte for byte what Celery 5.2.6 writes with result_extended=True, and PUBLISHes the same bytes", async () => {
    const ref = (JSON.parse(readReference("result_backend_redis_values_result_extended.json")) as Record<string, ExtendedReference>)
      .success_add!;
    // date_done 2026-11-24T02:05:40.665334: a clock with microseconds, as Celery's is.
    clock.set(Date.UTC(2026, 10, 24, 2, 5, 40, 665) + 0.334);
    const { messages, sub } = await subscribe(key(ref.task_id));
    try {
      const outcome = await backend.store({
        taskId: ref.task_id,
        status: "SUCCESS",
        result: 5,
        traceback: null,
        children: [],
        lifetimeMs: 86_400_000,
        tier: null,
        action: "delete",
        name: "probe.add",
        args: [2, 3],
        kwargs: {},
        worker: "wX@vm",
        retries: 0,
        queue: "celery",
      });
      expect(outcome.stored).toBe(true);
      expect(await ns.redis.get(key(ref.task_id))).toBe(ref.raw_value);
      await expect.poll(() => messages).toEqual([ref.raw_value]);
    } finally {
      sub.disconnect();
    }
  });

  it("stores encodeResultMeta of the same meta, for a failure with every field", async () => {
    const exc = { exc_type: "ValueError", exc_message: ["bad ünïcode"], exc_module: "builtins" };
    const { messages, sub } = await subscribe(key("t-fail"));
    try {
      await backend.store({
        taskId: "t-fail",
        status: "FAILURE",
        result: exc,
        traceback: "Traceback ...\n",
        children: [],
        lifetimeMs: 1_000,
        tier: "api",
        action: "delete",
        name: "n",
        args: [1],
        kwargs: { k: "v" },
        worker: "w@h",
        retries: 2,
        queue: "q",
      });
      const expected = encodeResultMeta({
        taskId: "t-fail",
        status: "FAILURE",
        result: exc,
        traceback: "Traceback ...\n",
        children: [],
        dateDone: clock(),
        extended: { name: "n", args: [1], kwargs: { k: "v" }, worker: "w@h", retries: 2, queue: "q" },
      });
      expect(await ns.redis.get(key("t-fail"))).toBe(expected);
      await expect.poll(() => messages).toEqual([expected]);
    } finally {
      sub.disconnect();
    }
  });

  for (const file of listReference("result_values", ".json")) {
    it(`reads ${file} as Python Celery SET it (no Ebb index)`, async () => {
      const raw = readReference(`result_values/${file}`).trim();
      const celery = JSON.parse(raw) as { task_id: string; status: string; result: unknown; children: unknown[] | null; name?: string };
      await ns.redis.set(key(celery.task_id), raw, "PX", 86_400_000);
      const got = await backend.lookup(celery.task_id, GRACE);
      expect(got.kind).toBe("found");
      if (got.kind !== "found") return;
      expect(got.result).toMatchObject({
        taskId: celery.task_id,
        status: celery.status,
        result: celery.result,
        children: celery.children ?? [],
        tier: null,
        action: "delete",
        held: false,
      });
      expect(got.result.name).toBe(celery.name ?? null);
      // expiresAt comes from the TTL Celery gave it: now + PTTL.
      expect(got.result.expiresAt).toBeGreaterThan(clock() + 86_300_000);
      expect(got.result.expiresAt).toBeLessThanOrEqual(clock() + 86_400_000);
    });
  }

  it("a Celery value stored with result_expires=None (plain SET) reads as never expiring", async () => {
    const raw = readReference("result_values/success_add.json").trim();
    await ns.redis.set(key("41f3d619-9bb2-4ba0-8544-0ec8907ad0f5"), raw);
    const got = await backend.lookup("41f3d619-9bb2-4ba0-8544-0ec8907ad0f5", GRACE);
    expect(got.kind === "found" && got.result.expiresAt).toBeNull();
  });

  it("a ready result that Python stored is final for Ebb too", async () => {
    const raw = readReference("result_values/failure_valueerror.json").trim();
    const id = "7ce22531-1fb9-40b1-9dca-964d46320ea0";
    await ns.redis.set(key(id), raw, "PX", 86_400_000);
    const outcome = await backend.store({
      taskId: id,
      status: "SUCCESS",
      result: 1,
      traceback: null,
      children: [],
      lifetimeMs: 1_000,
      tier: null,
      action: "delete",
    });
    expect(outcome.stored).toBe(false);
    expect(outcome.result).toMatchObject({ status: "FAILURE", result: { exc_type: "ValueError" } });
    expect(await ns.redis.get(key(id))).toBe(raw);
  });

  it("a STARTED value Python stored is replaced by Ebb's final result", async () => {
    const raw = readReference("result_values/started_track_started.json").trim();
    const id = "f1d2152e-cea0-4cf6-90c0-adc82281918a";
    await ns.redis.set(key(id), raw, "PX", 86_400_000);
    expect(
      (
        await backend.store({
          taskId: id,
          status: "SUCCESS",
          result: 2,
          traceback: null,
          children: [],
          lifetimeMs: 1_000,
          tier: null,
          action: "delete",
        })
      ).stored,
    ).toBe(true);
  });

  it("a hold on a Python value keeps it, and releasing gives its TTL back", async () => {
    const raw = readReference("result_values/success_add.json").trim();
    const id = "41f3d619-9bb2-4ba0-8544-0ec8907ad0f5";
    await ns.redis.set(key(id), raw, "PX", 100_000);
    expect(await backend.setHeld(id, true)).toBe(true);
    expect(await ns.redis.pttl(key(id))).toBe(-1);
    const held = await backend.lookup(id, GRACE);
    expect(held.kind === "found" && held.result.held).toBe(true);
    expect(await backend.setHeld(id, false)).toBe(true);
    expect(await ns.redis.pttl(key(id))).toBeGreaterThan(99_000);
  });

  it("forget publishes a PENDING meta, which Python's get() ignores as not ready", async () => {
    await backend.store({
      taskId: "t-forget",
      status: "SUCCESS",
      result: 1,
      traceback: null,
      children: [],
      lifetimeMs: 1_000,
      tier: null,
      action: "delete",
    });
    const { messages, sub } = await subscribe(key("t-forget"));
    try {
      expect(await backend.forget("t-forget")).toBe(true);
      await expect
        .poll(() => messages.map((m) => JSON.parse(m) as unknown))
        .toEqual([{ status: "PENDING", result: null, traceback: null, children: [], date_done: null, task_id: "t-forget" }]);
      expect(await ns.redis.exists(key("t-forget"))).toBe(0);
    } finally {
      sub.disconnect();
    }
  });
});

import { afterEach, beforeEach, expect, it } from "vitest";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import type { ResultRecord, ScanQuery } from "../../src/backends/retention-store.js";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { manualClock } from "../../src/clock.js";
import { cleanupVerdict } from "../../src/retention/cleanup-rules.js";
import { readReference } from "../fixtures/celery-reference.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";

// Store-only: what removal does to Redis's keys (UNLINK, the ttl/no-ttl index, the info flags), and
// the guide's bug: its cleanup script deleted the keys with no TTL, which are the permanent results.
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const GRACE = { graceMs: DAY };

function request(taskId: string, over: Partial<StoreRequest> = {}): StoreRequest {
  return {
    taskId,
    status: "SUCCESS",
    result: { n: 1 },
    traceback: null,
    children: [],
    lifetimeMs: HOUR,
    tier: null,
    action: "delete",
    ...over,
  };
}

const SUCCESS_ADD = readReference("result_values/success_add.json").trim();
const SUCCESS_ADD_ID = "41f3d619-9bb2-4ba0-8544-0ec8907ad0f5";
const EXTENDED_ADD = readReference("result_values/result_extended_success_add.json").trim();

await describeWithService("redis", "redis retention store: remove, archive marks, put", () => {
  let ns: Awaited<ReturnType<typeof redisNamespace>>;
  let clock: ReturnType<typeof manualClock>;
  let backend: RedisBackend;
  const key = (id: string) => `${ns.prefix}celery-task-meta-${id}`;

  async function all(query: Partial<ScanQuery> = {}): Promise<ResultRecord[]> {
    const out: ResultRecord[] = [];
    for await (const batch of backend.scan({ batchSize: 50, includeHeld: true, ...query })) out.push(...batch);
    return out.sort((a, b) => a.taskId.localeCompare(b.taskId));
  }

  beforeEach(async () => {
    ns = await redisNamespace();
    clock = manualClock(Date.UTC(2026, 10, 24, 3));
    backend = await new RedisBackend({ url: ns.url, clock, graceMs: DAY, trimIntervalMs: 3_600_000 }).connect();
  });
  afterEach(async () => {
    await backend.close();
    await ns.cleanup();
  });

  it("never removes a key without a TTL, however old (the guide's script deleted exactly those)", async () => {
    await ns.redis.set(key(SUCCESS_ADD_ID), SUCCESS_ADD); // Celery with result_expires=None: plain SET
    await ns.redis.set(key("celery-ttl"), SUCCESS_ADD.replace(SUCCESS_ADD_ID, "celery-ttl"), "EX", 600);
    await backend.store(request("ebb-never", { lifetimeMs: null }));
    await backend.store(request("ebb-expired", { lifetimeMs: 1_000 }));
    clock.advance(30 * DAY);

    // `ebb cleanup --days 7`: everything is older than that, and only what may expire goes.
    const rules = { now: clock(), olderThanMs: 7 * DAY };
    const records = await all();
    const verdicts = Object.fromEntries(records.map((r) => [r.taskId, cleanupVerdict(r, rules)]));
    expect(verdicts).toEqual({
      [SUCCESS_ADD_ID]: "keep:permanent",
      "celery-ttl": "remove",
      "ebb-never": "keep:permanent",
      "ebb-expired": "remove",
    });
    const outcome = await backend.remove(
      records.filter((r) => verdicts[r.taskId] === "remove"),
      { remember: true },
    );
    expect(outcome.removed.sort()).toEqual(["celery-ttl", "ebb-expired"]);

    expect(await ns.redis.get(key(SUCCESS_ADD_ID))).toBe(SUCCESS_ADD);
    expect(await ns.redis.pttl(key(SUCCESS_ADD_ID))).toBe(-1);
    expect(await ns.redis.pttl(key("ebb-never"))).toBe(-1);
    expect(await ns.redis.exists(key("celery-ttl"), key("ebb-expired"))).toBe(0);
    // Only --include-permanent lets them go.
    expect(cleanupVerdict(records.find((r) => r.taskId === SUCCESS_ADD_ID)!, { ...rules, includePermanent: true })).toBe("remove");
  });

  it("re-checks each result: one changed or held since the scan is kept and reported as kept", async () => {
    await backend.store(request("same", { lifetimeMs: 1_000 }));
    await backend.store(request("held", { lifetimeMs: 1_000 }));
    await backend.store(request("rerun", { status: "RETRY", lifetimeMs: 1_000 }));
    await ns.redis.set(key("celery"), SUCCESS_ADD.replace(SUCCESS_ADD_ID, "celery"), "EX", 600);
    const scanned = await all();
    await backend.setHeld("held", true);
    clock.advance(5);
    await backend.store(request("rerun", { lifetimeMs: 1_000 })); // RETRY → SUCCESS, new date_done
    await ns.redis.set(key("celery"), SUCCESS_ADD.replace(SUCCESS_ADD_ID, "celery").replace("40.124625", "41"), "EX", 600);

    const outcome = await backend.remove(scanned, { remember: false });
    expect(outcome).toEqual({
      removed: ["same"],
      bytes: scanned.find((r) => r.taskId === "same")!.bytes,
      kept: ["celery", "held", "rerun"],
    });
    expect(await ns.redis.exists(key("celery"), key("held"), key("rerun"))).toBe(3);
    // A date_done Celery wrote without its zero fraction still matches its scan.
    const again = await all({ includeHeld: false });
    expect((await backend.remove(again, { remember: false })).removed.sort()).toEqual(["celery", "rerun"]);
  });

  it("remembers a removed result as EXPIRED for the grace window only when asked", async () => {
    await backend.store(request("kept-in-mind", { lifetimeMs: 1_000 }));
    await backend.store(request("forgotten", { lifetimeMs: 1_000 }));
    await backend.store(request("audit", { lifetimeMs: 1_000, tier: "audit", action: "archive" }));
    clock.advance(2_000);
    const [audit, forgotten, kept] = await all();
    expect(cleanupVerdict(audit!, { now: clock() })).toBe("keep:needs-archive");
    expect(await backend.markArchived(["audit", "no-such-id"])).toBe(1);
    expect(await backend.read("audit")).toMatchObject({ archived: true, action: "archive", tier: "audit", origin: "ebb" });
    const archived = (await all()).find((r) => r.taskId === "audit")!;
    expect(cleanupVerdict(archived, { now: clock() })).toBe("remove");

    expect((await backend.remove([archived, kept!], { remember: true })).removed).toEqual(["audit", "kept-in-mind"]);
    expect((await backend.remove([forgotten!], { remember: false })).removed).toEqual(["forgotten"]);
    expect(await backend.lookup("kept-in-mind", GRACE)).toMatchObject({ kind: "expired", expiredAt: kept!.expiresAt });
    expect(await backend.lookup("audit", GRACE)).toMatchObject({ kind: "expired", expiredAt: audit!.expiresAt });
    expect(await backend.lookup("forgotten", GRACE)).toEqual({ kind: "missing" });
    // The archive-tier result left the no-ttl index for the ttl index, which trimming empties.
    expect(await ns.redis.zscore(`${ns.prefix}ebb:results:no-ttl`, "audit")).toBeNull();
    clock.advance(DAY);
    await backend.trimIndex();
    expect(await backend.lookup("audit", GRACE)).toEqual({ kind: "missing" });
    expect(await ns.redis.hlen(`${ns.prefix}ebb:results:info`)).toBe(0);
  });

  it("marks a Celery key archived by indexing it, so its info entry leaves with it", async () => {
    await ns.redis.set(key("c-ttl"), SUCCESS_ADD.replace(SUCCESS_ADD_ID, "c-ttl"), "PX", 600_000);
    await ns.redis.set(key("c-perm"), SUCCESS_ADD.replace(SUCCESS_ADD_ID, "c-perm"));
    expect(await backend.markArchived(["c-ttl", "c-perm"])).toBe(2);
    const [perm, ttl] = await all();
    expect(perm).toMatchObject({ origin: "celery", archived: true, expiresAt: null });
    expect(ttl).toMatchObject({ origin: "celery", archived: true });
    expect(Number(await ns.redis.zscore(`${ns.prefix}ebb:results:ttl`, "c-ttl"))).toBe(ttl!.expiresAt);
    expect(await ns.redis.pttl(key("c-ttl"))).toBeGreaterThan(500_000); // its TTL is untouched
    expect((await backend.remove([perm!, ttl!], { remember: false })).removed).toHaveLength(2);
    expect(await ns.redis.hlen(`${ns.prefix}ebb:results:info`)).toBe(0);
  });

  it("put() writes a result back with its own dates, TTL counted to its expiresAt", async () => {
    await backend.store(
      request("r", { lifetimeMs: HOUR, tier: "api", name: "add", args: [1, 2], kwargs: {}, worker: "w@h", retries: 0, queue: "q" }),
    );
    const before = (await backend.read("r"))!;
    const bytes = await ns.redis.get(key("r"));
    await backend.remove([before], { remember: false });
    clock.advance(HOUR / 2);
    expect(await backend.put(before, { replace: false })).toBe(true);
    expect(await ns.redis.get(key("r"))).toBe(bytes);
    expect(await backend.read("r")).toEqual(before);
    expect(Math.abs((await ns.redis.pttl(key("r"))) - HOUR / 2)).toBeLessThan(2_000);
    expect(await backend.put({ ...before, result: "other" }, { replace: false })).toBe(false);
    expect(await backend.put({ ...before, expiresAt: null }, { replace: true })).toBe(true);
    expect(await ns.redis.pttl(key("r"))).toBe(-1);
    expect(await backend.read("r")).toMatchObject({ expiresAt: null, tier: "api" });
  });

  it("put() of what Python Celery wrote writes Celery's bytes again, and keeps a hold on the id", async () => {
    for (const raw of [SUCCESS_ADD, EXTENDED_ADD]) {
      const id = (JSON.parse(raw) as { task_id: string }).task_id;
      await ns.redis.set(key(id), raw, "EX", 600);
      const record = (await backend.read(id))!;
      await backend.remove([record], { remember: false });
      await backend.put(record, { replace: false });
      expect(await ns.redis.get(key(id))).toBe(raw);
      expect(await backend.read(id)).toMatchObject({ origin: "celery", status: "SUCCESS", result: 5 });
    }
    const held = (await backend.read(SUCCESS_ADD_ID))!;
    await backend.setHeld(SUCCESS_ADD_ID, true);
    expect(await backend.put({ ...held, held: false }, { replace: true })).toBe(true);
    expect(await backend.read(SUCCESS_ADD_ID)).toMatchObject({ held: true });
    expect(await ns.redis.pttl(key(SUCCESS_ADD_ID))).toBe(-1);
  });
});

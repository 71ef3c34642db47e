/**
 * Issue 4's must-show on Redis, through the real CLI with no app (--backend URL): one store
 * mixing Ebb results (archive tier expired and pending, archive tier archived and expired,
 * unexpired, held, permanent) with keys Python Celery wrote (with a TTL, and without one — the
 * permanent results the guide's script deleted). Time is Redis's own: results are seeded with
 * instants relative to the store clock.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import type { StoredResult } from "../../src/backends/result-backend.js";
import { redisNamespace, scanAll, type RedisNamespace } from "../support/redis-namespace.js";
import { runEbb } from "../support/run-cli.js";
import { readReference } from "../fixtures/celery-reference.js";
import { describeWithService } from "../support/services.js";

const H = 3_600_000;
const celeryValue = (id: string) => readReference("result_values/success_add.json").replace(/"task_id": "[^"]+"/, `"task_id": "${id}"`);

await describeWithService("redis", "mixed Redis store through the CLI", () => {
  let ns: RedisNamespace;
  let store: RedisBackend;

  beforeEach(async () => {
    ns = await redisNamespace();
    store = await new RedisBackend({ url: ns.url }).connect();
    const now = await store.now();
    const base = (taskId: string, ageMs: number, lifeMs: number | null, over: Partial<StoredResult> = {}): StoredResult => ({
      taskId,
      status: "SUCCESS",
      result: { id: taskId, text: "é ✓", n: [1, 2.5, null] },
      traceback: null,
      children: [],
      dateDone: now - ageMs,
      expiresAt: lifeMs === null ? null : now - ageMs + lifeMs,
      tier: null,
      action: "delete",
      held: false,
      name: "mix.task",
      args: [1],
      kwargs: {},
      worker: "w@h",
      retries: 0,
      queue: "celery",
      ...over,
    });
    const put = (r: StoredResult) => store.put(r, { replace: false });
    await put(base("audit-pending", 2 * H, H, { tier: "audit", action: "archive" }));
    await put(base("audit-archived", 2 * H, H, { tier: "audit", action: "archive" }));
    await store.markArchived(["audit-archived"]);
    await put(base("fresh", H, 24 * H, { tier: "standard" }));
    await put(base("held", 2 * H, 30 * H, { tier: "standard" }));
    await store.setHeld("held", true);
    await put(base("permanent", 400 * 24 * H, null, { tier: "critical", action: "archive" }));
    await ns.redis.set(`${ns.prefix}celery-task-meta-celery-ttl`, celeryValue("celery-ttl"), "PX", 3_600_000);
    await ns.redis.set(`${ns.prefix}celery-task-meta-celery-forever`, celeryValue("celery-forever"));
  });
  afterEach(async () => {
    await store.close();
    await ns.cleanup();
  });

  const keyCount = async () => (await scanAll(ns.redis, `${ns.prefix}celery-task-meta-*`)).length;

  it("cleanup --dry-run reports exact counts and changes nothing; cleanup removes exactly those; keys without TTL survive", async () => {
    const before = await keyCount();
    expect(before).toBe(7);
    const dry = await runEbb("cleanup", "--dry-run", "--json", "--backend", ns.url);
    expect(dry.code).toBe(0);
    const dryJson = JSON.parse(dry.out);
    expect(Object.keys(dryJson).sort()).toEqual(["byTier", "bytes", "deleted", "dryRun", "matched"]);
    // Only the archived archive-tier result has expired and may go; audit-pending must be archived first.
    expect(dryJson).toMatchObject({ matched: 1, deleted: 0, dryRun: true, byTier: { audit: { matched: 1, deleted: 0 } } });
    expect(dryJson.bytes).toBeGreaterThan(0);
    expect(await keyCount()).toBe(before);

    const real = JSON.parse((await runEbb("cleanup", "--json", "--backend", ns.url)).out);
    expect(real).toMatchObject({ matched: 1, deleted: 1, bytes: dryJson.bytes, dryRun: false });
    expect(await ns.redis.exists(`${ns.prefix}celery-task-meta-audit-archived`)).toBe(0);
    for (const id of ["audit-pending", "fresh", "held", "permanent", "celery-ttl", "celery-forever"]) {
      expect(await ns.redis.exists(`${ns.prefix}celery-task-meta-${id}`), id).toBe(1);
    }
    // Even told to take everything older than a minute, the permanent and held ones stay.
    const old = JSON.parse((await runEbb("cleanup", "--older-than", "1m", "--json", "--backend", ns.url)).out);
    expect(old.deleted).toBe(2); // fresh (standard tier, may expire) and celery-ttl (has a TTL)
    expect(await ns.redis.exists(`${ns.prefix}celery-task-meta-celery-forever`)).toBe(1);
    expect(await ns.redis.exists(`${ns.prefix}celery-task-meta-permanent`)).toBe(1);
    expect(await ns.redis.exists(`${ns.prefix}celery-task-meta-held`)).toBe(1);
  });

  it("archive --delete then restore --task-id returns an archived result byte for byte, as JSON", async () => {
    const original = (await store.read("audit-pending"))!;
    const file = join(mkdtempSync(join(tmpdir(), "ebb-mix-")), "mix.jsonl.gz");
    const archived = await runEbb("archive", "--older-than", "90m", "--to", file, "--delete", "--json", "--backend", ns.url);
    expect(archived.code, archived.err).toBe(0);
    const a = JSON.parse(archived.out);
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(a.archived).toBe(a.deleted);
    expect(await ns.redis.exists(`${ns.prefix}celery-task-meta-audit-pending`)).toBe(0);
    expect(await ns.redis.exists(`${ns.prefix}celery-task-meta-held`)).toBe(1); // held: never archived away
    expect(await ns.redis.exists(`${ns.prefix}celery-task-meta-permanent`)).toBe(1); // never expires: not archived

    const restored = await runEbb("restore", file, "--task-id", "audit-pending", "--json");
    expect(restored.code).toBe(0);
    const r = JSON.parse(restored.out);
    expect(r.found).toBe(1);
    expect(JSON.stringify(r.entries[0].result)).toBe(JSON.stringify(original.result));
    expect(r.entries[0]).toMatchObject({ task_id: "audit-pending", tier: "audit", status: "SUCCESS" });
  });
});

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RemoveOutcome, ResultRecord, RetentionStore } from "../../src/backends/retention-store.js";
import { cleanup } from "../../src/retention/cleanup.js";
import { fullScan, LOCAL_RETENTION_STORES, type RetentionFixture } from "../support/retention-stores.js";
import type { SeedSpec } from "../support/seed-results.js";

const H = 3_600_000;
const D = 24 * H;

/** The must-show mix: every reason cleanup has to keep or remove a result. */
const MIX: SeedSpec[] = [
  { taskId: "std-expired", lifetimeMs: H, doneAgoMs: 2 * H, tier: "standard" },
  { taskId: "plain-expired", lifetimeMs: H, doneAgoMs: 3 * H },
  { taskId: "retry-expired", status: "RETRY", lifetimeMs: H, doneAgoMs: 2 * H },
  { taskId: "fresh", lifetimeMs: D, doneAgoMs: H, tier: "standard" },
  { taskId: "held-expired", lifetimeMs: H, doneAgoMs: 2 * H, tier: "standard", held: true },
  { taskId: "permanent", lifetimeMs: null, doneAgoMs: 400 * D },
  { taskId: "critical-old", lifetimeMs: null, doneAgoMs: 400 * D, tier: "critical", action: "archive" },
  { taskId: "audit-pending", lifetimeMs: H, doneAgoMs: 2 * H, tier: "audit", action: "archive" },
  { taskId: "audit-archived", lifetimeMs: H, doneAgoMs: 2 * H, tier: "audit", action: "archive", archived: true },
  { taskId: "old-unexpired", lifetimeMs: 30 * D, doneAgoMs: 10 * D },
];

/** A store that lets a test act between scan and remove, and counts remove() calls. */
function spy(store: RetentionStore, beforeRemove?: (records: readonly ResultRecord[]) => Promise<void>) {
  const calls: number[] = [];
  const wrapped: RetentionStore = Object.create(store, {
    remove: {
      value: async (records: readonly ResultRecord[], options: { remember: boolean }): Promise<RemoveOutcome> => {
        calls.push(records.length);
        await beforeRemove?.(records);
        return store.remove(records, options);
      },
    },
  });
  return { store: wrapped, calls };
}

for (const [name, make] of LOCAL_RETENTION_STORES) {
  describe(`cleanup on ${name}`, () => {
    let f: RetentionFixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.store.close();
      await f.cleanup?.();
    });

    const bytesOf = async (ids: string[]) =>
      (await fullScan(f.store)).filter((r) => ids.includes(r.taskId)).reduce((n, r) => n + r.bytes, 0);
    const remaining = async () => (await fullScan(f.store)).map((r) => r.taskId);

    it("--dry-run reports exactly what a real run removes, per tier, and changes nothing", async () => {
      await f.seed(MIX);
      const before = await fullScan(f.store);
      const dry = await cleanup(f.store, { dryRun: true });
      expect(await fullScan(f.store)).toEqual(before);
      expect(dry).toEqual({
        matched: 4,
        deleted: 0,
        bytes: await bytesOf(["std-expired", "plain-expired", "retry-expired", "audit-archived"]),
        byTier: {
          standard: { matched: 1, deleted: 0, bytes: await bytesOf(["std-expired"]) },
          none: { matched: 2, deleted: 0, bytes: await bytesOf(["plain-expired", "retry-expired"]) },
          audit: { matched: 1, deleted: 0, bytes: await bytesOf(["audit-archived"]) },
        },
        dryRun: true,
        kept: {
          "keep:held": 1,
          "keep:unexpired": 0,
          "keep:permanent": 0,
          "keep:needs-archive": 1,
          "keep:other-tier": 0,
          "keep:changed": 0,
        },
      });
      const real = await cleanup(f.store, {});
      expect(real.matched).toBe(dry.matched);
      expect(real.deleted).toBe(dry.matched);
      expect(real.bytes).toBe(dry.bytes);
      for (const [tier, t] of Object.entries(dry.byTier)) expect(real.byTier[tier]).toEqual({ ...t, deleted: t.matched });
    });

    it("removes exactly the expired delete-tier results and archived archive-tier ones; never the permanent ones (the guide's Redis script did)", async () => {
      await f.seed(MIX);
      const report = await cleanup(f.store, {});
      expect(report.deleted).toBe(4);
      expect(await remaining()).toEqual(["audit-pending", "critical-old", "fresh", "held-expired", "old-unexpired", "permanent"]);
      // Cleaned results are remembered: they read EXPIRED, not unknown.
      for (const id of ["std-expired", "plain-expired", "retry-expired", "audit-archived"])
        expect((await f.store.lookup(id, { graceMs: D })).kind).toBe("expired");
      expect(await cleanup(f.store, {})).toMatchObject({ matched: 0, deleted: 0, bytes: 0 });
    });

    it("--older-than removes old results allowed to expire, and keeps permanent ones", async () => {
      await f.seed(MIX);
      const report = await cleanup(f.store, { olderThanMs: 7 * D });
      expect(report).toMatchObject({ matched: 5, deleted: 5 });
      expect(report.kept["keep:permanent"]).toBe(2);
      expect(await remaining()).toEqual(["audit-pending", "critical-old", "fresh", "held-expired", "permanent"]);
    });

    it("--include-permanent also removes old permanent results, but not an archive tier's unarchived ones", async () => {
      await f.seed(MIX);
      const report = await cleanup(f.store, { olderThanMs: 7 * D, includePermanent: true });
      expect(report).toMatchObject({ matched: 6, deleted: 6 });
      expect(report.kept["keep:needs-archive"]).toBe(2);
      expect(await remaining()).toEqual(["audit-pending", "critical-old", "fresh", "held-expired"]);
    });

    it("--tier limits cleanup to one tier; null means results without a tier", async () => {
      await f.seed(MIX);
      expect(await cleanup(f.store, { tier: "standard" })).toMatchObject({
        matched: 1,
        deleted: 1,
        byTier: { standard: { matched: 1, deleted: 1 } },
      });
      expect(await cleanup(f.store, { tier: null })).toMatchObject({ matched: 2, deleted: 2 });
      expect(await remaining()).toEqual([
        "audit-archived",
        "audit-pending",
        "critical-old",
        "fresh",
        "held-expired",
        "old-unexpired",
        "permanent",
      ]);
    });

    it("keeps a result re-stored or held between scan and remove", async () => {
      await f.seed(MIX);
      const { store } = spy(f.store, async (records) => {
        if (!records.some((r) => r.taskId === "std-expired")) return;
        await f.store.forget("std-expired");
        f.clock.advance(1);
        await f.store.store({
          taskId: "std-expired",
          status: "SUCCESS",
          result: "again",
          traceback: null,
          children: [],
          lifetimeMs: 0,
          tier: "standard",
          action: "delete",
        });
        await f.store.setHeld("plain-expired", true);
      });
      const report = await cleanup(store, {});
      expect(report).toMatchObject({ matched: 4, deleted: 2 });
      expect(report.kept["keep:changed"]).toBe(2);
      expect((await f.store.read("std-expired"))?.result).toBe("again");
      expect((await f.store.read("plain-expired"))?.held).toBe(true);
    });

    it("removes in bounded batches and lets other work run between them", async () => {
      await f.seed([
        ...Array.from({ length: 50 }, (_, i) => ({ taskId: `old-${i}`, lifetimeMs: H, doneAgoMs: 2 * H })),
        ...Array.from({ length: 20 }, (_, i) => ({ taskId: `new-${i}`, lifetimeMs: D })),
      ]);
      const { store, calls } = spy(f.store);
      let ticks = 0;
      let running = true;
      const tick = () => {
        ticks += 1;
        if (running) setImmediate(tick);
      };
      setImmediate(tick);
      const progress: number[] = [];
      const report = await cleanup(store, { batchSize: 7, onProgress: (p) => progress.push(p.deleted) });
      running = false;
      expect(report.deleted).toBe(50);
      expect(calls).toEqual([7, 7, 7, 7, 7, 7, 7, 1]);
      expect(ticks).toBeGreaterThanOrEqual(calls.length);
      expect(progress.at(-1)).toBe(50);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
    });

    it("stops between batches when aborted; what it removed is removed, the rest is untouched", async () => {
      await f.seed(Array.from({ length: 30 }, (_, i) => ({ taskId: `ab-${i}`, lifetimeMs: H, doneAgoMs: 2 * H })));
      const controller = new AbortController();
      const run = cleanup(f.store, {
        batchSize: 10,
        signal: controller.signal,
        onProgress: (p) => p.deleted >= 10 && controller.abort(new Error("stop")),
      });
      await expect(run).rejects.toThrow("stop");
      const left = (await fullScan(f.store)).length;
      expect(left).toBeLessThan(30);
      expect(left % 10).toBe(0);
    });
  });
}

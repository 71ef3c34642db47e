import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { archiveResults } from "../../src/archive/archive-results.js";
import { ResultArchivedError, ResultExpiredError } from "../../src/errors.js";
import { AsyncResult } from "../../src/result.js";
import { census, scanCensus } from "../../src/monitor/census.js";
import type { StoredResult } from "../../src/backends/result-backend.js";
import type { ResultRecord, RetentionCapabilities, RetentionStore, ScanQuery } from "../../src/backends/retention-store.js";
import type { MakeRetentionFixture, RetentionFixture } from "../support/retention-stores.js";

export type { MakeRetentionFixture, RetentionFixture } from "../support/retention-stores.js";
export { storeSeeder, type SeedSpec } from "../support/seed-results.js";

const H = 3_600_000;
const D = 24 * H;

async function ids(store: RetentionStore, query: ScanQuery): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of store.scan(query)) out.push(...batch.map((r) => r.taskId));
  return out.sort();
}

async function records(store: RetentionStore, query: ScanQuery): Promise<ResultRecord[]> {
  const out: ResultRecord[] = [];
  for await (const batch of store.scan(query)) out.push(...batch);
  return out;
}

/** A StoredResult as put() takes it: every field given. */
function stored(taskId: string, over: Partial<StoredResult> = {}): StoredResult {
  return {
    taskId,
    status: "SUCCESS",
    result: { restored: taskId },
    traceback: null,
    children: [],
    dateDone: Date.UTC(2025, 5, 1),
    expiresAt: Date.UTC(2099, 0, 1),
    tier: "audit",
    action: "archive",
    held: false,
    name: "audit.log",
    args: [1],
    kwargs: { k: "v" },
    worker: "w@h",
    retries: 0,
    queue: "celery",
    ...over,
  };
}

/**
 * What every RetentionStore must do (memory, SQLite, Redis, Celery's table). make() returns a
 * fresh, empty store in its own namespace with a manual store clock, and seed() (storeSeeder()
 * for any store that implements ResultBackend.store(); Celery's table seeds through put()).
 *
 * Cases are picked by the capabilities the store declares (`caps`, checked against the store's
 * own declaration by the first case): a case a store cannot pass is not registered for it, rather
 * than skipped, so every registered case runs and counts. Seeds give every result a lifetime and
 * a tier; a store without perResultExpiry or tiers ignores them, and the cases that do not need
 * them select by doneBy and hold, which every store has.
 */
export function retentionStoreConformance(name: string, make: MakeRetentionFixture, caps: RetentionCapabilities): void {
  /** Register a case only on stores that declare every capability it needs. */
  const when = (needs: ReadonlyArray<keyof RetentionCapabilities>, title: string, fn: () => Promise<void>) => {
    if (needs.every((c) => caps[c])) it(title, fn);
  };
  describe(`retention store conformance: ${name}`, () => {
    let f: RetentionFixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.store.close();
      await f.cleanup?.();
    });

    it("declares its retention operations and the capabilities this suite picked its cases by", async () => {
      expect(f.store.retention).toBe(f.store);
      expect(f.store.retentionCapabilities).toEqual(caps);
    });

    it("scan covers every result exactly once, in batches no larger than batchSize", async () => {
      const specs = Array.from({ length: 23 }, (_, i) => ({
        taskId: `s-${String(i).padStart(2, "0")}`,
        lifetimeMs: i % 3 === 0 ? null : (i + 1) * H,
        doneAgoMs: i * 1000,
        held: i % 10 === 4,
      }));
      await f.seed(specs);
      const seen: string[] = [];
      for await (const batch of f.store.scan({ batchSize: 4 })) {
        expect(batch.length).toBeGreaterThan(0);
        expect(batch.length).toBeLessThanOrEqual(4);
        seen.push(...batch.map((r) => r.taskId));
      }
      const unheld = specs.filter((s) => !s.held).map((s) => s.taskId);
      expect(seen.sort()).toEqual(unheld.sort());
      expect(new Set(seen).size).toBe(seen.length);
      expect(await ids(f.store, { batchSize: 5, includeHeld: true })).toEqual(specs.map((s) => s.taskId).sort());
    });

    it("scan filters by doneBy (never a result without a dateDone) and hold", async () => {
      await f.seed([
        { taskId: "two-h", lifetimeMs: H, doneAgoMs: 2 * H },
        { taskId: "perm-old", lifetimeMs: null, doneAgoMs: 10 * D },
        { taskId: "started", status: "STARTED", lifetimeMs: H, doneAgoMs: 2 * H },
        { taskId: "held-old", lifetimeMs: H, doneAgoMs: 2 * H, held: true },
        { taskId: "fresh", lifetimeMs: D, doneAgoMs: H },
      ]);
      const now = f.clock();
      expect(await ids(f.store, { batchSize: 2, doneBy: now - 2 * H })).toEqual(["perm-old", "two-h"]);
      expect(await ids(f.store, { batchSize: 2, doneBy: now - 2 * H, includeHeld: true })).toEqual(["held-old", "perm-old", "two-h"]);
      expect(await ids(f.store, { batchSize: 2, doneBy: now - 5 * D })).toEqual(["perm-old"]);
      expect(await ids(f.store, { batchSize: 2, doneBy: now })).toEqual(["fresh", "perm-old", "two-h"]);
    });

    when(["perResultExpiry"], "scan filters by expiresBy, each result by its own expiry", async () => {
      await f.seed([
        { taskId: "exp-1h", lifetimeMs: H, doneAgoMs: 2 * H },
        { taskId: "exp-30m", lifetimeMs: H / 2, doneAgoMs: 3 * H },
        { taskId: "fresh", lifetimeMs: D, doneAgoMs: H },
        { taskId: "perm-old", lifetimeMs: null, doneAgoMs: 10 * D },
        { taskId: "started", status: "STARTED", lifetimeMs: H, doneAgoMs: 2 * H },
        { taskId: "held-exp", lifetimeMs: H, doneAgoMs: 2 * H, held: true },
      ]);
      const now = f.clock();
      expect(await ids(f.store, { batchSize: 2, expiresBy: now })).toEqual(["exp-1h", "exp-30m", "started"]);
      expect(await ids(f.store, { batchSize: 2, expiresBy: now, includeHeld: true })).toEqual(["exp-1h", "exp-30m", "held-exp", "started"]);
      expect(await ids(f.store, { batchSize: 2, expiresBy: now + 2 * D })).toEqual(["exp-1h", "exp-30m", "fresh", "started"]);
      expect(await ids(f.store, { batchSize: 2, expiresBy: now, doneBy: now - 150 * 60_000 })).toEqual(["exp-30m"]);
    });

    when(["tiers"], "scan filters by tier (null = results without one), alone and with expiresBy", async () => {
      await f.seed([
        { taskId: "exp-std", lifetimeMs: H, doneAgoMs: 2 * H, tier: "standard" },
        { taskId: "exp-none", lifetimeMs: H, doneAgoMs: 3 * H },
        { taskId: "fresh", lifetimeMs: D, doneAgoMs: H, tier: "standard" },
        { taskId: "perm-old", lifetimeMs: null, doneAgoMs: 10 * D },
        { taskId: "audit", lifetimeMs: H, doneAgoMs: 2 * H, tier: "audit", action: "archive" },
      ]);
      const now = f.clock();
      expect(await ids(f.store, { batchSize: 2, tier: "standard" })).toEqual(["exp-std", "fresh"]);
      expect(await ids(f.store, { batchSize: 2, tier: null })).toEqual(["exp-none", "perm-old"]);
      expect(await ids(f.store, { batchSize: 2, tier: "audit" })).toEqual(["audit"]);
      expect(await f.store.read("audit")).toMatchObject({ tier: "audit", action: "archive" });
      if (caps.perResultExpiry) expect(await ids(f.store, { batchSize: 2, tier: null, expiresBy: now, doneBy: now })).toEqual(["exp-none"]);
    });

    it("scan for a tier no result has finds nothing; tier null finds the results without one", async () => {
      await f.seed([{ taskId: "t-1", lifetimeMs: H }]);
      expect(await ids(f.store, { batchSize: 2, tier: "no-such-tier" })).toEqual([]);
      expect(await ids(f.store, { batchSize: 2, tier: null })).toEqual(["t-1"]);
    });

    it("read gives the stored result with its retention fields, or null", async () => {
      await f.seed([{ taskId: "r-1", lifetimeMs: H, tier: "audit", action: "archive", result: { big: "x".repeat(500) } }]);
      const rec = await f.store.read("r-1");
      const found = await f.store.lookup("r-1", { graceMs: 0 });
      expect(found.kind).toBe("found");
      // Ebb's results are JSON and origin "ebb"; Celery's table holds Celery's pickles.
      expect(rec).toMatchObject({
        ...(found.kind === "found" ? found.result : {}),
        origin: caps.ebbResults ? "ebb" : "celery",
        archived: false,
        held: false,
      });
      expect(rec!.bytes).toBeGreaterThan(caps.ebbResults ? 500 : 0);
      expect(await f.store.read("r-none")).toBeNull();
    });

    it("remove deletes what was scanned and reports the bytes freed", async () => {
      await f.seed(["a", "b", "c"].map((id) => ({ taskId: `rm-${id}`, lifetimeMs: H, doneAgoMs: 2 * H })));
      const batch = await records(f.store, { batchSize: 10, doneBy: f.clock() });
      const outcome = await f.store.remove(batch, { remember: false });
      expect(outcome.removed.sort()).toEqual(["rm-a", "rm-b", "rm-c"]);
      expect(outcome.kept).toEqual([]);
      expect(outcome.bytes).toBe(batch.reduce((n, r) => n + r.bytes, 0));
      for (const id of outcome.removed) {
        expect(await f.store.read(id)).toBeNull();
        // Without remember, a removed id is unknown at once.
        expect(await f.store.lookup(id, { graceMs: D })).toEqual({ kind: "missing" });
      }
      const again = await f.store.remove(batch, { remember: false });
      expect(again).toEqual({ removed: [], bytes: 0, kept: expect.arrayContaining(["rm-a", "rm-b", "rm-c"]) });
    });

    it("remove keeps a result that became held or changed since the scan", async () => {
      await f.seed(["held", "changed", "same"].map((id) => ({ taskId: `rc-${id}`, lifetimeMs: H, doneAgoMs: 2 * H })));
      const batch = await records(f.store, { batchSize: 10, doneBy: f.clock() });
      expect(batch).toHaveLength(3);
      await f.store.setHeld("rc-held", true);
      // Written again (a rerun): the same id, a new dateDone.
      await f.store.forget("rc-changed");
      f.clock.advance(1_000);
      await f.seed([{ taskId: "rc-changed", lifetimeMs: D }]);
      const outcome = await f.store.remove(batch, { remember: true });
      expect(outcome.removed).toEqual(["rc-same"]);
      expect(outcome.kept.sort()).toEqual(["rc-changed", "rc-held"]);
      expect((await f.store.read("rc-held"))?.held).toBe(true);
      expect(await f.store.read("rc-changed")).toMatchObject({ dateDone: f.clock() });
    });

    if (!caps.tombstones) {
      it("remove with remember keeps no tombstone: the id reads unknown at once", async () => {
        await f.seed([{ taskId: "gone", lifetimeMs: H, doneAgoMs: 2 * H }]);
        expect((await f.store.remove(await records(f.store, { batchSize: 10, doneBy: f.clock() }), { remember: true })).removed).toEqual([
          "gone",
        ]);
        expect(await f.store.lookup("gone", { graceMs: D })).toEqual({ kind: "missing" });
      });
    }

    when(
      ["tombstones", "perResultExpiry"],
      "remove with remember: the id reads EXPIRED within the grace window, unknown after",
      async () => {
        await f.seed([{ taskId: "tomb", lifetimeMs: H, doneAgoMs: 2 * H }]);
        const [rec] = await records(f.store, { batchSize: 10, expiresBy: f.clock() });
        expect((await f.store.remove([rec!], { remember: true })).removed).toEqual(["tomb"]);
        expect(await f.store.read("tomb")).toBeNull();
        // It expired an hour ago: a 2h grace still remembers it, a 30m one does not.
        expect(await f.store.lookup("tomb", { graceMs: 2 * H })).toEqual({ kind: "expired", taskId: "tomb", expiredAt: rec!.expiresAt });
        expect(await f.store.lookup("tomb", { graceMs: H / 2 })).toEqual({ kind: "missing" });
        f.clock.advance(2 * H);
        expect(await f.store.lookup("tomb", { graceMs: 2 * H })).toEqual({ kind: "missing" });
      },
    );

    when(
      ["tombstones"],
      "a result an archive removed before it expired reads EXPIRED now, archived to the file; get() throws ResultArchivedError naming it",
      async () => {
        await f.seed([{ taskId: "arc", lifetimeMs: D, doneAgoMs: H, tier: "audit", action: "archive" }]);
        const rec = (await f.store.read("arc"))!;
        const archive = { file: "/var/archives/ebb-2026.jsonl.gz", at: f.clock() - 1_000 };
        expect((await f.store.remove([rec], { remember: true, archive })).removed).toEqual(["arc"]);
        // Not "expired at" its future expiry: it left the store now, and the lookup says where it went.
        expect(await f.store.lookup("arc", { graceMs: D })).toEqual({
          kind: "expired",
          taskId: "arc",
          expiredAt: f.clock(),
          archived: archive,
        });
        const res = new AsyncResult("arc", { backend: async () => f.store, graceMs: D, defaultTimeoutMs: 1_000 });
        const error = await res.get().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ResultArchivedError);
        expect(error).toBeInstanceOf(ResultExpiredError);
        expect(error).toMatchObject({ code: "RESULT_EXPIRED", taskId: "arc", archiveFile: archive.file, archivedAt: new Date(archive.at) });
        expect((error as Error).message).toContain(`was archived to ${archive.file}`);
        expect((error as Error).message).toContain(`ebb restore ${archive.file} --task-id arc`);
        expect(await res.info()).toMatchObject({
          state: "EXPIRED",
          expiresAt: new Date(f.clock()).toISOString(),
          archived: { file: archive.file, at: new Date(archive.at).toISOString() },
        });

        // Restored, then removed by cleanup (no archive): its tombstone no longer claims the archive.
        expect(await f.store.put({ ...rec, expiresAt: f.clock() - 1 }, { replace: false })).toBe(true);
        expect((await f.store.remove([(await f.store.read("arc"))!], { remember: true })).removed).toEqual(["arc"]);
        const plain = await f.store.lookup("arc", { graceMs: D });
        expect(plain).toEqual({ kind: "expired", taskId: "arc", expiredAt: f.clock() - 1 });
        expect(await res.get().catch((e: unknown) => e)).not.toBeInstanceOf(ResultArchivedError);
        f.clock.advance(2 * D);
        expect(await f.store.lookup("arc", { graceMs: D })).toEqual({ kind: "missing" });
      },
    );

    when(["tombstones"], "archive --delete leaves tombstones that name the archive file, for results not yet expired", async () => {
      await f.seed([
        { taskId: "a-1", lifetimeMs: 30 * D, doneAgoMs: 2 * D },
        { taskId: "a-2", lifetimeMs: 30 * D, doneAgoMs: 3 * D },
        { taskId: "a-fresh", lifetimeMs: 30 * D, doneAgoMs: H },
      ]);
      const dir = mkdtempSync(join(tmpdir(), "ebb-conf-archive-"));
      try {
        const to = join(dir, "out.jsonl.gz");
        const out = await archiveResults(f.store, { to, olderThanMs: D, delete: true, source: f.store.url, now: f.clock() });
        expect(out).toMatchObject({ archived: 2, deleted: 2 });
        for (const id of ["a-1", "a-2"]) {
          const error = await new AsyncResult(id, { backend: async () => f.store, graceMs: D, defaultTimeoutMs: 1_000 })
            .get()
            .catch((e: unknown) => e);
          expect(error).toBeInstanceOf(ResultArchivedError);
          expect((error as ResultArchivedError).archiveFile).toBe(resolve(to));
        }
        expect((await f.store.lookup("a-fresh", { graceMs: D })).kind).toBe("found");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("removing each batch while scanning still visits every result once", async () => {
      await f.seed(Array.from({ length: 10 }, (_, i) => ({ taskId: `sw-${i}`, lifetimeMs: H, doneAgoMs: 2 * H + i })));
      let removed = 0;
      for await (const batch of f.store.scan({ batchSize: 3, doneBy: f.clock() }))
        removed += (await f.store.remove(batch, { remember: true })).removed.length;
      expect(removed).toBe(10);
      expect(await ids(f.store, { batchSize: 10, includeHeld: true })).toEqual([]);
    });

    it("markArchived marks existing results and counts them", async () => {
      await f.seed([
        { taskId: "ar-1", lifetimeMs: H, tier: "audit", action: "archive" },
        { taskId: "ar-2", lifetimeMs: H, tier: "audit", action: "archive" },
      ]);
      expect(await f.store.markArchived(["ar-1", "ar-missing"])).toBe(1);
      expect((await f.store.read("ar-1"))?.archived).toBe(true);
      expect((await f.store.read("ar-2"))?.archived).toBe(false);
      expect((await records(f.store, { batchSize: 5 })).find((r) => r.taskId === "ar-1")?.archived).toBe(true);
      expect(await f.store.markArchived([])).toBe(0);
    });

    it("setHeld holds and releases; scans skip held results unless asked", async () => {
      await f.seed([{ taskId: "h-1", lifetimeMs: H }]);
      expect(await f.store.setHeld("h-1", true)).toBe(true);
      expect((await f.store.read("h-1"))?.held).toBe(true);
      expect(await ids(f.store, { batchSize: 5 })).toEqual([]);
      expect(await ids(f.store, { batchSize: 5, includeHeld: true })).toEqual(["h-1"]);
      expect(await f.store.setHeld("h-1", false)).toBe(true);
      expect(await ids(f.store, { batchSize: 5 })).toEqual(["h-1"]);
      expect(await f.store.setHeld("h-nobody", true)).toBe(false);
    });

    it("put brings back, exactly, a result read from the store and removed (a restore)", async () => {
      await f.seed([{ taskId: "p-rt", lifetimeMs: H, doneAgoMs: 2 * H, tier: "audit", action: "archive" }]);
      const rec = (await f.store.read("p-rt"))!;
      expect((await f.store.remove([rec], { remember: false })).removed).toEqual(["p-rt"]);
      expect(await f.store.put(rec, { replace: false })).toBe(true);
      expect(await f.store.read("p-rt")).toEqual(rec);
      expect(await f.store.put(rec, { replace: false })).toBe(false);
      const rewritten = { ...rec, status: "FAILURE" as const, dateDone: f.clock() - D };
      expect(await f.store.put(rewritten, { replace: true })).toBe(true);
      expect(await f.store.read("p-rt")).toMatchObject({ status: "FAILURE", dateDone: f.clock() - D });
    });

    when(["ebbResults"], "put writes a result as given, and replaces an existing one only when asked", async () => {
      const first = stored("p-1");
      expect(await f.store.put(first, { replace: false })).toBe(true);
      expect(await f.store.lookup("p-1", { graceMs: 0 })).toEqual({ kind: "found", result: first });
      expect(await f.store.put(stored("p-1", { result: "other" }), { replace: false })).toBe(false);
      expect((await f.store.read("p-1"))?.result).toEqual({ restored: "p-1" });
      const second = stored("p-1", { result: "replaced", expiresAt: null, tier: null, action: "delete" });
      expect(await f.store.put(second, { replace: true })).toBe(true);
      expect(await f.store.lookup("p-1", { graceMs: 0 })).toEqual({ kind: "found", result: second });
      // expiresAt is taken as given, even when it has passed.
      await f.store.put(stored("p-past", { expiresAt: f.clock() - 1 }), { replace: false });
      expect((await f.store.lookup("p-past", { graceMs: D })).kind).toBe("expired");
    });

    when(["tombstones"], "put brings back an id that cleanup had tombstoned", async () => {
      await f.seed([{ taskId: "p-back", lifetimeMs: H, doneAgoMs: 2 * H }]);
      const rec = (await f.store.read("p-back"))!;
      await f.store.remove([rec], { remember: true });
      expect((await f.store.lookup("p-back", { graceMs: D })).kind).toBe("expired");
      await f.store.put({ ...rec, expiresAt: f.clock() + H }, { replace: false });
      expect((await f.store.lookup("p-back", { graceMs: D })).kind).toBe("found");
    });

    when(
      ["perResultExpiry", "tiers"],
      "census counts cells, holds, expiries and the outlook; its own aggregate (if any) agrees with a scan",
      async () => {
        await f.seed([
          { taskId: "soon", lifetimeMs: 2 * H, doneAgoMs: 90 * 60_000, tier: "api" },
          { taskId: "later", lifetimeMs: 3 * D, doneAgoMs: 0, tier: "standard" },
          { taskId: "gone", lifetimeMs: H, doneAgoMs: 3 * H, tier: "api" },
          { taskId: "gone-long", lifetimeMs: H, doneAgoMs: 3 * D, tier: "api" },
          { taskId: "held", lifetimeMs: H, doneAgoMs: 3 * H, tier: "api", held: true },
          { taskId: "forever", lifetimeMs: null, tier: "critical" },
          { taskId: "failed", status: "FAILURE", result: { exc_type: "E", exc_message: "m" }, lifetimeMs: 40 * D, tier: "standard" },
        ]);
        const now = f.clock();
        const own = await census(f.store, { graceCutoff: now - D });
        const scanned = await scanCensus(f.store, { graceCutoff: now - D });
        const { tookMs: _a, ...ownRest } = own;
        const { tookMs: _b, ...scanRest } = scanned;
        expect(ownRest).toEqual(scanRest);
        expect(own.at).toBe(now);
        expect(own.total).toBe(7);
        expect(own.cells.map((c) => [c.tier, c.state, c.count])).toEqual([
          ["api", "SUCCESS", 4],
          ["critical", "SUCCESS", 1],
          ["standard", "FAILURE", 1],
          ["standard", "SUCCESS", 1],
        ]);
        expect(own.cells.reduce((n, c) => n + c.bytes, 0)).toBe(own.bytes);
        expect(own.bytes).toBeGreaterThan(0);
        expect([own.held, own.permanent]).toEqual([1, 1]);
        expect([own.expiredPending, own.expiredBeforeCutoff]).toEqual([2, 1]);
        expect(own.oldestPendingExpiry).toBe(now - 3 * D + H);
        expect(own.nextExpiry).toBe(now + 30 * 60_000);
        expect(own.expiring).toEqual({ hour: 1, day: 1, week: 2 });
        expect(own.hourly[0]!.count).toBe(1);
        expect(own.daily.map((d) => d.count)).toEqual(Array.from({ length: 30 }, (_, i) => (i === 0 || i === 2 ? 1 : 0)));
        expect(own.oldestDateDone).toBe(now - 3 * D);
      },
    );

    it("every record costs bytes, and storeFacts gives an object", async () => {
      await f.seed([{ taskId: "b-1", lifetimeMs: H, result: null }]);
      expect((await f.store.read("b-1"))!.bytes).toBeGreaterThan(0);
      expect((await f.store.storeFacts()).kind).toEqual(expect.any(String));
    });
  });
}

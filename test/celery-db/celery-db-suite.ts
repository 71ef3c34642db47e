import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { CeleryDbBackend } from "../../src/backends/celery-db/celery-db-backend.js";
import type { ResultRecord, ScanQuery } from "../../src/backends/retention-store.js";
import { ConfigError } from "../../src/errors.js";
import { parseCeleryTime } from "../../src/protocol/timestamps.js";
import { cleanupVerdict } from "../../src/retention/cleanup-rules.js";
import { manualClock } from "../../src/clock.js";
import { retentionStoreConformance } from "../conformance/retention-store-conformance.js";
import { celerySeeder } from "../conformance/celery-seeder.js";
import type { CeleryDb } from "./harness.js";

const DAY = 86_400_000;
const EXTENDED = { name: "db.add", args: [2, 3], kwargs: { k: { n: null } }, worker: "celery@w1", retries: 1, queue: "dbq" };

/**
 * Celery's table as a real Celery 5.2.6 writes it, read and cleaned by Ebb. The same cases run on
 * SQLite and PostgreSQL (celery-db-sqlite.test.ts, celery-db-postgres.test.ts).
 */
export function celeryDbSuite(engine: string, make: () => Promise<CeleryDb>): void {
  describe(`Celery's database backend tables: ${engine}`, () => {
    let db: CeleryDb;
    let ebb: CeleryDbBackend;

    async function all(query: Partial<ScanQuery> = {}, store = ebb): Promise<ResultRecord[]> {
      const out: ResultRecord[] = [];
      for await (const batch of store.scan({ batchSize: 3, ...query })) out.push(...batch);
      return out.sort((a, b) => a.taskId.localeCompare(b.taskId));
    }
    const rawResult = async (id: string) =>
      (await db.sql<{ result: Buffer }>("SELECT result FROM celery_taskmeta WHERE task_id = $1", [id]))[0]?.result;

    beforeEach(async () => {
      db = await make();
      await db.store([
        { id: "ok", state: "SUCCESS", result: { answer: 42, list: [1, "x"] } },
        { id: "failed", state: "FAILURE", error: "db boom" },
        { id: "running", state: "STARTED", result: { pid: 7 } },
        { id: "again", state: "RETRY", error: "later" },
        { id: "ext", state: "SUCCESS", result: [1, "x"], extended: EXTENDED },
        { id: "old-1", state: "SUCCESS", result: 1, age_seconds: 10 * 86_400 },
        { id: "old-2", state: "FAILURE", error: "old", age_seconds: 3 * 86_400 },
      ]);
      // result_expires "never": rows carry no expiry of their own (the default, Celery's 1 day, is tested below).
      ebb = await new CeleryDbBackend({ url: db.ebbUrl, resultExpiresMs: null }).connect();
    });
    afterEach(async () => {
      await ebb.close();
      await db.cleanup();
    });

    it("reads what Celery wrote: state, naive-UTC date_done, traceback, extended fields, the pickle as base64", async () => {
      const python = new Map((await db.read(["ok", "failed", "running", "ext"])).map((r) => [r.id, r]));
      const ok = await ebb.lookup("ok", { graceMs: 0 });
      expect(ok.kind).toBe("found");
      const okResult = ok.kind === "found" ? ok.result : null;
      const pickle = (await rawResult("ok"))!.toString("base64");
      expect(okResult).toMatchObject({
        taskId: "ok",
        status: "SUCCESS",
        result: { pickle_base64: pickle },
        expiresAt: null,
        tier: null,
        held: false,
      });
      expect(okResult!.dateDone).toBe(parseCeleryTime(python.get("ok")!.date_done!, "python"));
      expect(await ebb.read("failed")).toMatchObject({
        status: "FAILURE",
        traceback: expect.stringContaining("ValueError"),
        origin: "celery",
      });
      expect(await ebb.read("running")).toMatchObject({ status: "STARTED", dateDone: null });
      expect(await ebb.read("ext")).toMatchObject({ ...EXTENDED, status: "SUCCESS" });
      expect(python.get("ext")).toMatchObject(EXTENDED);
      const rec = (await ebb.read("ok"))!;
      expect(rec.resultPickleBase64).toBe(pickle);
      expect(rec.bytes).toBe(Buffer.from(pickle, "base64").length);
      expect(await ebb.lookup("never-stored", { graceMs: DAY })).toEqual({ kind: "missing" });
    });

    it("scans by date_done, never selecting STARTED or RETRY rows (date_done NULL)", async () => {
      const now = await ebb.now();
      const everything = await all({ includeHeld: true });
      expect(everything.map((r) => r.taskId)).toEqual(["again", "ext", "failed", "ok", "old-1", "old-2", "running"]);
      expect(everything.every((r) => r.origin === "celery")).toBe(true);
      const byState = everything.reduce<Record<string, number>>((n, r) => {
        n[r.status] = (n[r.status] ?? 0) + 1;
        return n;
      }, {});
      expect(byState).toEqual({ SUCCESS: 3, FAILURE: 2, STARTED: 1, RETRY: 1 });
      expect((await all({ doneBy: now - DAY })).map((r) => r.taskId)).toEqual(["old-1", "old-2"]);
      expect((await all({ doneBy: now - 5 * DAY })).map((r) => r.taskId)).toEqual(["old-1"]);
      expect((await all({ doneBy: now + DAY })).map((r) => r.taskId)).toEqual(["ext", "failed", "ok", "old-1", "old-2"]);
      // No tier, no expiry of its own: a tier query or an expiry query finds nothing.
      expect(await all({ tier: "standard" })).toEqual([]);
      expect(await all({ expiresBy: now + DAY })).toEqual([]);
    });

    it("with Celery's result_expires (by default its 1 day), a row expires that long after date_done", async () => {
      const timed = await new CeleryDbBackend({ url: db.ebbUrl }).connect();
      try {
        const now = await timed.now();
        const expired = await all({ expiresBy: now }, timed);
        expect(expired.map((r) => r.taskId)).toEqual(["old-1", "old-2"]);
        expect(expired[0]!.expiresAt).toBe(expired[0]!.dateDone! + DAY);
        expect(expired.map((r) => cleanupVerdict(r, { now }))).toEqual(["remove", "remove"]);
      } finally {
        await timed.close();
      }
    });

    it("removes in batches with a re-check, and Celery still reads what stayed", async () => {
      await db.store(Array.from({ length: 25 }, (_, i) => ({ id: `bulk-${i}`, state: "SUCCESS", result: i, age_seconds: 2 * 86_400 })));
      const small = await new CeleryDbBackend({ url: db.ebbUrl, removeBatchSize: 4 }).connect();
      try {
        const now = await small.now();
        const old = await all({ doneBy: now - DAY }, small);
        expect(old).toHaveLength(27);
        const outcome = await small.remove(old, { remember: true });
        expect(outcome.removed.sort()).toEqual(old.map((r) => r.taskId).sort());
        expect(outcome.bytes).toBe(old.reduce((n, r) => n + r.bytes, 0));
        // What is left is what was not old: and STARTED/RETRY rows, whatever the cutoff, are untouched.
        const after = await all({ doneBy: now + DAY }, small);
        expect(after.map((r) => r.taskId)).toEqual(["ext", "failed", "ok"]);
        const python = await db.read(["running", "again", "ok", "old-1"]);
        expect(python.map((r) => r.state)).toEqual(["STARTED", "RETRY", "SUCCESS", "PENDING"]);
      } finally {
        await small.close();
      }
    });

    it("keeps a row that was held or rewritten since the scan", async () => {
      const scanned = await all({ doneBy: (await ebb.now()) + DAY });
      expect(await ebb.setHeld("ok", true)).toBe(true);
      await db.store([{ id: "failed", state: "SUCCESS", result: "rerun" }]); // Celery overwrites the row: new status and date_done
      const outcome = await ebb.remove(scanned, { remember: false });
      expect(outcome.kept.sort()).toEqual(["failed", "ok"]);
      expect(outcome.removed.sort()).toEqual(["ext", "old-1", "old-2"]);
      expect(await all()).toEqual([
        expect.objectContaining({ taskId: "again" }),
        expect.objectContaining({ taskId: "failed" }),
        expect.objectContaining({ taskId: "running" }),
      ]);
      expect(await ebb.read("ok")).toMatchObject({ held: true });
      expect(await ebb.setHeld("ok", false)).toBe(true);
      expect(await ebb.setHeld("nobody", true)).toBe(false);
      // Celery never reads the side table: a held row reads as before.
      expect((await db.read(["ok"]))[0]).toMatchObject({ state: "SUCCESS", result: { answer: 42, list: [1, "x"] } });
    });

    it("round-trips the pickle exactly: removed, put back, and Celery reads the same result", async () => {
      const before = await db.read(["ok", "ext", "failed"]);
      const raw = await Promise.all(["ok", "ext", "failed"].map(rawResult));
      const records = await Promise.all(["ok", "ext", "failed"].map(async (id) => (await ebb.read(id))!));
      expect(await ebb.markArchived(["ok", "nobody"])).toBe(1);
      expect((await ebb.remove(records, { remember: false })).removed).toHaveLength(3);
      expect((await db.read(["ok"]))[0]!.state).toBe("PENDING");
      for (const r of records) expect(await ebb.put(r, { replace: false })).toBe(true);
      expect(await ebb.put(records[0]!, { replace: false })).toBe(false);
      expect(await Promise.all(["ok", "ext", "failed"].map(rawResult))).toEqual(raw);
      expect(await db.read(["ok", "ext", "failed"])).toEqual(before);
      // The archive mark left with the row; the put row is a new row.
      expect((await ebb.read("ok"))!.archived).toBe(false);
      const withoutPickle: ResultRecord = { ...records[0]!, resultPickleBase64: undefined };
      expect(await ebb.put(withoutPickle, { replace: true }).catch((e: unknown) => e)).toBeInstanceOf(ConfigError);
    });

    it("refuses to store: Celery's table is written by Celery", async () => {
      const error = await ebb
        .store({ taskId: "x", status: "SUCCESS", result: 1, traceback: null, children: [], lifetimeMs: null, tier: null, action: "delete" })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain("written by Celery");
    });
  });
}

/**
 * The shared retention-store suite (test/conformance/retention-store-conformance.ts) on a
 * celery_taskmeta that a real Celery created: `template()` gives a database whose tables Celery
 * made once for the file; each case gets a fresh, empty copy of them (table and id sequence) in
 * a schema of its own, seeded through put() as the db+sqlite run does. Celery's table declares
 * no tiers, tombstones, per-result expiry or JSON values, so only the cases it can pass register.
 */
export function celeryTableConformance(engine: string, template: () => Promise<CeleryDb>): void {
  let made: Promise<CeleryDb> | undefined;
  afterAll(async () => {
    await (await made)?.cleanup();
  });
  retentionStoreConformance(
    `Celery's table (${engine})`,
    async () => {
      made ??= template().then(async (db) => {
        await db.store([{ id: "template", state: "SUCCESS", result: 1 }]);
        await db.sql("DELETE FROM celery_taskmeta");
        return db;
      });
      const tmpl = await made;
      const copy = `${tmpl.schema}_${randomBytes(4).toString("hex")}`;
      await tmpl.sql(`CREATE SCHEMA ${copy}`);
      await tmpl.sql(`CREATE SEQUENCE ${copy}.task_id_sequence`);
      await tmpl.sql(`CREATE TABLE ${copy}.celery_taskmeta (LIKE ${tmpl.schema}.celery_taskmeta INCLUDING ALL)`);
      const clock = manualClock(Date.UTC(2026, 10, 24));
      const store = await new CeleryDbBackend({
        url: tmpl.ebbUrl.replace(`schema=${tmpl.schema}`, `schema=${copy}`),
        clock,
        resultExpiresMs: null,
      }).connect();
      return { store, clock, seed: celerySeeder(store, clock), cleanup: async () => void (await tmpl.sql(`DROP SCHEMA ${copy} CASCADE`)) };
    },
    { tiers: false, tombstones: false, perResultExpiry: false, bulkExpiry: false, ebbResults: false },
  );
}

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CeleryDbBackend } from "../../src/backends/celery-db/celery-db-backend.js";
import type { ResultRecord, ScanQuery } from "../../src/backends/retention-store.js";
import { manualClock } from "../../src/clock.js";
import { isReady } from "../../src/states.js";
import { referencePath } from "../fixtures/celery-reference.js";
import type { SeedSpec } from "../support/seed-results.js";

// The shared retention-store suite (retention-store-conformance.ts) cannot run on Celery's table as
// it is: it seeds through store(), which Celery's table refuses (Celery writes it), and five of its
// cases assume what the table has no column for (a tier, a per-result expiry, a tombstone that
// reads EXPIRED, an "ebb" origin, put() of a result that is not a pickle). So the cases that apply
// run here, with the same assertions, on db+sqlite: an empty celery_taskmeta made from the schema
// a real Celery 5.2.6 created (reference/celery/db_schema_sqlite.sql), seeded through put() with
// pickle bytes, as a restore would. Rows Python Celery writes are tested in test/celery-db/.

const H = 3_600_000;
const D = 24 * H;
/** pickle.dumps(None, protocol=5): any valid pickle will do, Ebb never opens it. */
const PICKLE = Buffer.from([0x80, 0x05, 0x4e, 0x2e]).toString("base64");

describe("retention store conformance (Celery's table): db+sqlite", () => {
  let dir: string;
  let clock: ReturnType<typeof manualClock>;
  let store: CeleryDbBackend;

  async function seed(specs: readonly SeedSpec[]): Promise<void> {
    for (const s of specs) {
      const status = s.status ?? "SUCCESS";
      const base = { taskId: s.taskId, status, result: null, traceback: null, children: [], expiresAt: null, tier: null, action: "delete" as const, held: false };
      const record: ResultRecord = { ...base, dateDone: isReady(status) ? clock() - (s.doneAgoMs ?? 0) : null, name: s.name ?? "seed.task", bytes: 0, origin: "celery", archived: false, resultPickleBase64: PICKLE };
      expect(await store.put(record, { replace: false })).toBe(true);
      if (s.held) await store.setHeld(s.taskId, true);
      if (s.archived) await store.markArchived([s.taskId]);
    }
  }
  async function ids(query: ScanQuery): Promise<string[]> {
    const out: string[] = [];
    for await (const batch of store.scan(query)) out.push(...batch.map((r) => r.taskId));
    return out.sort();
  }
  async function records(query: ScanQuery): Promise<ResultRecord[]> {
    const out: ResultRecord[] = [];
    for await (const batch of store.scan(query)) out.push(...batch);
    return out;
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "ebb-celery-conf-"));
    const db = new Database(join(dir, "celery.db"));
    db.exec(readFileSync(referencePath("db_schema_sqlite.sql"), "utf8").replace(/CREATE TABLE sqlite_sequence\(name,seq\);/, ""));
    db.close();
    clock = manualClock(Date.UTC(2026, 10, 24));
    store = await new CeleryDbBackend({ url: `db+sqlite:///${join(dir, "celery.db")}`, clock, resultExpiresMs: null }).connect();
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("scan covers every result exactly once, in batches no larger than batchSize", async () => {
    const specs = Array.from({ length: 23 }, (_, i) => ({ taskId: `s-${String(i).padStart(2, "0")}`, lifetimeMs: null, doneAgoMs: i * 1000, held: i % 10 === 4 }));
    await seed(specs);
    const seen: string[] = [];
    for await (const batch of store.scan({ batchSize: 4 })) {
      expect(batch.length).toBeGreaterThan(0);
      expect(batch.length).toBeLessThanOrEqual(4);
      seen.push(...batch.map((r) => r.taskId));
    }
    expect(seen.sort()).toEqual(specs.filter((s) => !s.held).map((s) => s.taskId));
    expect(await ids({ batchSize: 5, includeHeld: true })).toEqual(specs.map((s) => s.taskId));
  });

  it("scan filters by doneBy (never a row without date_done), tier and hold", async () => {
    await seed([
      { taskId: "two-h", lifetimeMs: null, doneAgoMs: 2 * H },
      { taskId: "perm-old", lifetimeMs: null, doneAgoMs: 10 * D },
      { taskId: "started", status: "STARTED", lifetimeMs: null, doneAgoMs: 2 * H },
      { taskId: "held-old", lifetimeMs: null, doneAgoMs: 2 * H, held: true },
    ]);
    const now = clock();
    expect(await ids({ batchSize: 2, doneBy: now - 2 * H })).toEqual(["perm-old", "two-h"]);
    expect(await ids({ batchSize: 2, doneBy: now - 2 * H, includeHeld: true })).toEqual(["held-old", "perm-old", "two-h"]);
    expect(await ids({ batchSize: 2, doneBy: now - 5 * D })).toEqual(["perm-old"]);
    expect(await ids({ batchSize: 2, tier: "standard" })).toEqual([]);
    expect(await ids({ batchSize: 2, tier: null })).toEqual(["perm-old", "started", "two-h"]);
  });

  it("read gives the row with its retention fields, or null", async () => {
    await seed([{ taskId: "r-1", lifetimeMs: null }]);
    const found = await store.lookup("r-1", { graceMs: 0 });
    expect(found.kind).toBe("found");
    expect(await store.read("r-1")).toMatchObject({ ...(found.kind === "found" ? found.result : {}), origin: "celery", archived: false, held: false, resultPickleBase64: PICKLE });
    expect((await store.read("r-1"))!.bytes).toBe(4);
    expect(await store.read("r-none")).toBeNull();
  });

  it("remove deletes what was scanned, reports the bytes freed, and keeps what became held", async () => {
    await seed(["a", "b", "c", "held"].map((id) => ({ taskId: `rm-${id}`, lifetimeMs: null, doneAgoMs: 2 * H })));
    const batch = await records({ batchSize: 10, doneBy: clock() });
    await store.setHeld("rm-held", true);
    const outcome = await store.remove(batch, { remember: false });
    expect(outcome.removed.sort()).toEqual(["rm-a", "rm-b", "rm-c"]);
    expect(outcome.kept).toEqual(["rm-held"]);
    expect(outcome.bytes).toBe(3 * 4);
    for (const id of outcome.removed) expect(await store.lookup(id, { graceMs: D })).toEqual({ kind: "missing" });
    expect(await store.remove(batch, { remember: false })).toEqual({ removed: [], bytes: 0, kept: expect.arrayContaining(["rm-a", "rm-b", "rm-c", "rm-held"]) });
  });

  it("removing each batch while scanning still visits every result once", async () => {
    await seed(Array.from({ length: 10 }, (_, i) => ({ taskId: `sw-${i}`, lifetimeMs: null, doneAgoMs: 2 * H + i })));
    let removed = 0;
    for await (const batch of store.scan({ batchSize: 3, doneBy: clock() })) removed += (await store.remove(batch, { remember: true })).removed.length;
    expect(removed).toBe(10);
    expect(await ids({ batchSize: 10, includeHeld: true })).toEqual([]);
  });

  it("markArchived and setHeld mark existing rows only", async () => {
    await seed([{ taskId: "ar-1", lifetimeMs: null }, { taskId: "ar-2", lifetimeMs: null }]);
    expect(await store.markArchived(["ar-1", "ar-missing"])).toBe(1);
    expect((await store.read("ar-1"))?.archived).toBe(true);
    expect((await store.read("ar-2"))?.archived).toBe(false);
    expect(await store.markArchived([])).toBe(0);
    expect(await store.setHeld("ar-2", true)).toBe(true);
    expect(await ids({ batchSize: 5 })).toEqual(["ar-1"]);
    expect(await store.setHeld("ar-2", false)).toBe(true);
    expect(await store.setHeld("nobody", true)).toBe(false);
  });

  it("put writes a row as given, and replaces an existing one only when asked", async () => {
    await seed([{ taskId: "p-1", lifetimeMs: null }]);
    const first = (await store.read("p-1"))!;
    expect(await store.put({ ...first, status: "FAILURE" }, { replace: false })).toBe(false);
    expect(await store.put({ ...first, status: "FAILURE", dateDone: clock() - D }, { replace: true })).toBe(true);
    expect(await store.read("p-1")).toEqual({ ...first, status: "FAILURE", dateDone: clock() - D });
    expect(typeof (await store.storeFacts())).toBe("object");
  });
});

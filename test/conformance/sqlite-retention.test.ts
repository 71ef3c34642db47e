import { describe, expect, it } from "vitest";
import type { ScanQuery } from "../../src/backends/retention-store.js";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { scanSql } from "../../src/backends/sqlite/sqlite-retention.js";
import { openDatabase } from "../../src/sqlite/open-database.js";
import { makeSqliteRetention } from "../support/retention-stores.js";
import { retentionStoreConformance } from "./retention-store-conformance.js";

retentionStoreConformance("sqlite", makeSqliteRetention, {
  tiers: true,
  tombstones: true,
  perResultExpiry: true,
  bulkExpiry: false,
  ebbResults: true,
});

// SQLite-only: the scans must use the indexes (never a table scan for expired results), and
// the store prunes old tombstones as cleanup removes results.
describe("sqlite retention details", () => {
  it("scans for expired or old results page through an index, never the whole table", async () => {
    const f = await makeSqliteRetention();
    // biome-ignore lint/complexity/useLiteralKeys: reads a private field on purpose, to open the same file
    const db = openDatabase((f.store as SqliteBackend)["handle"].path).db;
    const plans = (query: ScanQuery) => {
      const { sql, params } = scanSql(query);
      const explain = (text: string) =>
        db
          .prepare(`EXPLAIN QUERY PLAN ${text}`)
          .all({ ...params, lastKey: 0, lastId: "" })
          .map((r) => (r as { detail: string }).detail)
          .join("; ");
      return [explain(sql.first), explain(sql.next)];
    };
    for (const p of plans({ batchSize: 10, expiresBy: 1, tier: "audit" }))
      expect(p).toMatch(/^SEARCH ebb_results USING INDEX ebb_results_expiry_scan .*expires_at<\?\)$/);
    for (const p of plans({ batchSize: 10, doneBy: 1, includeHeld: true }))
      expect(p).toMatch(/^SEARCH ebb_results USING INDEX ebb_results_done_scan /);
    // An unfiltered scan walks the primary key in order: no sort of the whole table.
    for (const p of plans({ batchSize: 10, includeHeld: true }))
      expect(p).toMatch(/^(SCAN|SEARCH) ebb_results USING INDEX sqlite_autoindex_ebb_results_1/);
    await f.store.close();
    await f.cleanup?.();
  });

  it("remove() drops tombstones past the grace window, a bounded batch at a time", async () => {
    const f = await makeSqliteRetention();
    const store = new SqliteBackend({ url: f.store.url, clock: f.clock, graceMs: 60_000 });
    // biome-ignore lint/complexity/useLiteralKeys: reads a private field on purpose, to open the same file
    const db = openDatabase((f.store as SqliteBackend)["handle"].path).db;
    const insert = db.prepare("INSERT INTO ebb_tombstones (task_id, expired_at) VALUES (?, ?)");
    for (let i = 0; i < 700; i++) insert.run(`old-${i}`, f.clock() - 120_000);
    insert.run("recent", f.clock() - 1_000);
    await f.seed([
      { taskId: "x", lifetimeMs: 0 },
      { taskId: "y", lifetimeMs: 0 },
    ]);
    const left = () => db.prepare("SELECT count(*) FROM ebb_tombstones WHERE task_id LIKE 'old-%'").pluck().get();
    await store.remove([(await store.read("x"))!], { remember: true });
    expect(left()).toBe(200);
    await store.remove([(await store.read("y"))!], { remember: true });
    expect(left()).toBe(0);
    expect(db.prepare("SELECT task_id FROM ebb_tombstones ORDER BY task_id").pluck().all()).toEqual(["recent", "x", "y"]);
    await store.close();
    await f.store.close();
    await f.cleanup?.();
  });
});

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { CeleryDbBackend } from "../../src/backends/celery-db/celery-db-backend.js";
import { manualClock } from "../../src/clock.js";
import { referencePath } from "../fixtures/celery-reference.js";
import { celerySeeder } from "./celery-seeder.js";
import { retentionStoreConformance, type RetentionFixture } from "./retention-store-conformance.js";

// The shared retention-store suite on Celery's own table (db+sqlite): an empty celery_taskmeta
// made from the schema a real Celery 5.2.6 created (test/fixtures/celery/db_schema_sqlite.sql).
// The table cannot take store() (Celery writes it), so results are seeded through put() with
// pickle bytes, as a restore would. Its capabilities leave out the cases it cannot pass: no tier
// column, no per-result expiry (result_expires "never" here), no tombstones, no JSON values.
// Rows a real Python Celery writes are tested in test/celery-db/ (SQLite and PostgreSQL).

async function makeCeleryTable(): Promise<RetentionFixture> {
  const dir = mkdtempSync(join(tmpdir(), "ebb-celery-conf-"));
  const db = new Database(join(dir, "celery.db"));
  db.exec(readFileSync(referencePath("db_schema_sqlite.sql"), "utf8").replace(/CREATE TABLE sqlite_sequence\(name,seq\);/, ""));
  db.close();
  const clock = manualClock(Date.UTC(2026, 10, 24));
  const store = await new CeleryDbBackend({ url: `db+sqlite:///${join(dir, "celery.db")}`, clock, resultExpiresMs: null }).connect();
  return { store, clock, seed: celerySeeder(store, clock), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

retentionStoreConformance("Celery's table (db+sqlite)", makeCeleryTable, {
  tiers: false,
  tombstones: false,
  perResultExpiry: false,
  bulkExpiry: false,
  ebbResults: false,
});

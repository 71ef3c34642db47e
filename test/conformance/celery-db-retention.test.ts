import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { CeleryDbBackend } from "../../src/backends/celery-db/celery-db-backend.js";
import type { ResultRecord } from "../../src/backends/retention-store.js";
import { manualClock } from "../../src/clock.js";
import { isReady } from "../../src/states.js";
import { referencePath } from "../fixtures/celery-reference.js";
import type { Seed } from "../support/seed-results.js";
import { retentionStoreConformance, type RetentionFixture } from "./retention-store-conformance.js";

// The shared retention-store suite on Celery's own table (db+sqlite): an empty celery_taskmeta
// made from the schema a real Celery 5.2.6 created (test/fixtures/celery/db_schema_sqlite.sql).
// The table cannot take store() (Celery writes it), so results are seeded through put() with
// pickle bytes, as a restore would. Its capabilities leave out the cases it cannot pass: no tier
// column, no per-result expiry (result_expires "never" here), no tombstones, no JSON values.
// Rows a real Python Celery writes are tested in test/celery-db/ (SQLite and PostgreSQL).

/** pickle.dumps(None, protocol=5): any valid pickle will do, Ebb never opens it. */
const PICKLE = Buffer.from([0x80, 0x05, 0x4e, 0x2e]).toString("base64");

function celerySeeder(store: CeleryDbBackend, clock: ReturnType<typeof manualClock>): Seed {
  return async (specs) => {
    for (const s of specs) {
      const status = s.status ?? "SUCCESS";
      const record: ResultRecord = {
        taskId: s.taskId,
        status,
        result: null,
        traceback: null,
        children: [],
        dateDone: isReady(status) ? clock() - (s.doneAgoMs ?? 0) : null,
        expiresAt: null,
        tier: null,
        action: "delete",
        held: false,
        name: s.name ?? "seed.task",
        bytes: 0,
        origin: "celery",
        archived: false,
        resultPickleBase64: PICKLE,
      };
      if (!(await store.put(record, { replace: false }))) throw new Error(`seed: ${s.taskId} is already in the table`);
    }
    for (const s of specs) if (s.held) await store.setHeld(s.taskId, true);
    const archived = specs.filter((s) => s.archived).map((s) => s.taskId);
    if (archived.length > 0) await store.markArchived(archived);
  };
}

async function makeCeleryTable(): Promise<RetentionFixture> {
  const dir = mkdtempSync(join(tmpdir(), "ebb-celery-conf-"));
  const db = new Database(join(dir, "celery.db"));
  db.exec(readFileSync(referencePath("db_schema_sqlite.sql"), "utf8").replace(/CREATE TABLE sqlite_sequence\(name,seq\);/, ""));
  db.close();
  const clock = manualClock(Date.UTC(2026, 10, 24));
  const store = await new CeleryDbBackend({ url: `db+sqlite:///${join(dir, "celery.db")}`, clock, resultExpiresMs: null }).connect();
  return { store, clock, seed: celerySeeder(store, clock), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

retentionStoreConformance("Celery's table (db+sqlite)", makeCeleryTable, { tiers: false, tombstones: false, perResultExpiry: false, bulkExpiry: false, ebbResults: false });

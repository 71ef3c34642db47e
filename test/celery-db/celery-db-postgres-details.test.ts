import pg from "pg";
import { afterEach, beforeEach, expect, it } from "vitest";
import { CeleryDbBackend } from "../../src/backends/celery-db/celery-db-backend.js";
import type { ResultRecord } from "../../src/backends/retention-store.js";
import { describeCeleryDb, postgresCeleryDb, type CeleryDb } from "./harness.js";

// PostgreSQL-only: the two ways Celery's own cleanup goes wrong there. date_done is a naive
// timestamp, and Celery's cutoff moved with the session TimeZone
// (reference/celery/db_cleanup_session_timezone_effect.txt); and it deletes in one unbounded
// statement (celery/celery #10097). A statement-level trigger records how many rows each DELETE
// removed, so the batches are seen by the database itself.

const HOUR_S = 3_600;

async function scanAll(store: CeleryDbBackend, doneBy?: number): Promise<ResultRecord[]> {
  const out: ResultRecord[] = [];
  for await (const batch of store.scan({ batchSize: 50, includeHeld: true, ...(doneBy === undefined ? {} : { doneBy }) }))
    out.push(...batch);
  return out.sort((a, b) => a.taskId.localeCompare(b.taskId));
}

await describeCeleryDb("celery database backend on PostgreSQL: time zones and batches", "postgres", () => {
  let db: CeleryDb;
  beforeEach(async () => {
    db = await postgresCeleryDb();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it("reads and selects by date_done the same whatever the session TimeZone", async () => {
    await db.store([1, 12, 21, 23, 25, 49].map((h) => ({ id: `age-${h}h`, state: "SUCCESS", result: h, age_seconds: h * HOUR_S })));
    const seen: Record<string, { done: (number | null)[]; old: string[] }> = {};
    for (const zone of ["UTC", "America/New_York", "Asia/Tokyo"]) {
      const store = await new CeleryDbBackend({ url: `${db.ebbUrl}&options=${encodeURIComponent(`-c TimeZone=${zone}`)}` }).connect();
      try {
        // The same options reach the server: the session really is in that zone.
        const probe = new pg.Client({ connectionString: `${db.celeryUrl.slice(3)}?options=${encodeURIComponent(`-c TimeZone=${zone}`)}` });
        await probe.connect();
        expect((await probe.query<{ TimeZone: string }>("SHOW TimeZone")).rows[0]!.TimeZone).toBe(zone);
        await probe.end();
        const now = await store.now();
        seen[zone] = {
          done: (await scanAll(store)).map((r) => r.dateDone),
          old: (await scanAll(store, now - 24 * HOUR_S * 1000)).map((r) => r.taskId),
        };
      } finally {
        await store.close();
      }
    }
    expect(seen.UTC!.old).toEqual(["age-25h", "age-49h"]);
    expect(seen["America/New_York"]).toEqual(seen.UTC);
    expect(seen["Asia/Tokyo"]).toEqual(seen.UTC);
  });

  it("removes in bounded DELETE statements, never one for everything", async () => {
    await db.store(Array.from({ length: 60 }, (_, i) => ({ id: `b-${i}`, state: "SUCCESS", result: i, age_seconds: 2 * 24 * HOUR_S })));
    const table = `${db.schema}.celery_taskmeta`;
    await db.sql(`CREATE TABLE ${db.schema}.delete_log (n int)`);
    await db.sql(
      `CREATE FUNCTION ${db.schema}.log_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO ${db.schema}.delete_log SELECT count(*) FROM old_rows; RETURN NULL; END $$`,
    );
    await db.sql(
      `CREATE TRIGGER log_delete AFTER DELETE ON ${table} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ${db.schema}.log_delete()`,
    );
    const store = await new CeleryDbBackend({ url: db.ebbUrl, removeBatchSize: 25 }).connect();
    try {
      const old = await scanAll(store, (await store.now()) - 24 * HOUR_S * 1000);
      expect((await store.remove(old, { remember: true })).removed).toHaveLength(60);
      expect((await db.sql<{ n: number }>(`SELECT n FROM ${db.schema}.delete_log`)).map((r) => r.n)).toEqual([25, 25, 10]);
    } finally {
      await store.close();
    }
  });
});

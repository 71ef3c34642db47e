import type Database from "better-sqlite3";
import { type Census, type CensusOptions, CensusTally } from "../../monitor/census.js";
import type { StoredState } from "../../states.js";
import { BYTES_SQL } from "./result-rows.js";

const HOUR_MS = 3_600_000;

/**
 * Counts ebb_results with two aggregates instead of reading every row into JavaScript: cells
 * (tier, state, held, permanent) and expiry buckets (hours from now; -1 = expired). Both read one
 * snapshot (one read transaction), so the numbers agree with each other.
 */
export function sqliteCensus(db: Database.Database, at: number, options: CensusOptions): Census {
  const started = performance.now();
  const tally = new CensusTally(at, options.graceCutoff, options.largest);
  const cells = db.prepare<[], CellRow>(
    `SELECT IFNULL(tier, 'none') AS tier, status, held, expires_at IS NULL AS permanent,
            count(*) AS n, sum(${BYTES_SQL}) AS bytes, min(date_done) AS oldest
       FROM ebb_results GROUP BY 1, 2, 3, 4`,
  );
  const hours = db.prepare<{ at: number; hour: number; cutoff: number }, HourRow>(
    `SELECT CASE WHEN expires_at <= @at THEN -1 ELSE CAST((expires_at - @at - 1) / @hour AS INTEGER) END AS h,
            count(*) AS n, sum(${BYTES_SQL}) AS bytes, min(expires_at) AS first, sum(expires_at < @cutoff) AS early
       FROM ebb_results WHERE held = 0 AND expires_at IS NOT NULL GROUP BY 1`,
  );
  const largest = db.prepare<[number], LargeRow>(
    `SELECT task_id, IFNULL(tier, 'none') AS tier, status, name, ${BYTES_SQL} AS bytes FROM ebb_results ORDER BY bytes DESC, task_id LIMIT ?`,
  );
  db.transaction(() => {
    if (options.largest)
      for (const r of largest.all(options.largest))
        tally.addLarge({ taskId: r.task_id, bytes: r.bytes, tier: r.tier, state: r.status, name: r.name });
    for (const r of cells.all()) {
      tally.addCell(r.tier, r.status, r.n, r.bytes);
      tally.addFlags(r.held ? r.n : 0, r.permanent ? r.n : 0, r.oldest);
    }
    for (const r of hours.all({ at, hour: HOUR_MS, cutoff: options.graceCutoff ?? Number.MIN_SAFE_INTEGER })) {
      if (r.h < 0) tally.addPending(r.n, r.bytes, r.first, r.early);
      else tally.addHour(r.h, r.n, r.bytes, r.first);
    }
  }).deferred();
  return tally.finish(performance.now() - started);
}

interface CellRow {
  tier: string;
  status: StoredState;
  held: number;
  permanent: number;
  n: number;
  bytes: number;
  oldest: number | null;
}

interface HourRow {
  h: number;
  n: number;
  bytes: number;
  first: number;
  early: number;
}

interface LargeRow {
  task_id: string;
  tier: string;
  status: StoredState;
  name: string | null;
  bytes: number;
}

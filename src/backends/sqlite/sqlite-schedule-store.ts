import type Database from "better-sqlite3";
import type { Clock } from "../../clock.js";
import { parseSample, sampleJson, type StorageSample } from "../../monitor/history.js";
import {
  HISTORY_TRIM_BATCH,
  RUNS_KEPT,
  outboxOf,
  sampleSlot,
  type ClaimOutcome,
  type ClaimRequest,
  type CleanupRunRecord,
  type EntryState,
  type FireRecord,
  type OutboxMessage,
  type SampleOptions,
  type ScheduleStore,
} from "../../beat/schedule-store.js";
import { FIRE_COLUMNS, toFire, toState, type FireRow, type StateRow } from "../schedule-rows.js";

interface OutboxRow extends FireRow {
  message: string;
}

/** A claim that met a taken (entry, tick): thrown inside the transaction so it rolls back, caught outside. */
class TickTaken {
  constructor(readonly state: EntryState | null) {}
}

/**
 * Beat's state in ebb_beat_entries, ebb_beat_fires and ebb_cleanup_runs, and the storage history
 * in ebb_history (schema in src/sqlite/migrations.ts). claim() runs under BEGIN IMMEDIATE, which takes the file's write
 * lock before it reads the entry, so claims from any number of processes on one file are
 * serialised: each sees the state the one before it left. The fires' (entry, tick) primary key
 * is the second guard: a tick fired once is never inserted again while its row is in history.
 */
export class SqliteScheduleStore implements ScheduleStore {
  private readonly sql: ReturnType<typeof prepare>;
  private readonly claimTx: (req: ClaimRequest) => ClaimOutcome;
  private readonly recordTx: (run: CleanupRunRecord) => void;
  private readonly sampleTx: (slot: number, sample: StorageSample, cutoff: number) => boolean;

  constructor(
    db: Database.Database,
    private readonly clock: Clock,
  ) {
    const sql = prepare(db);
    this.sql = sql;
    this.claimTx = db.transaction((req: ClaimRequest): ClaimOutcome => {
      const current = this.readStates([req.entry]).get(req.entry) ?? null;
      const matches =
        req.expect === null
          ? current === null
          : current !== null && current.lastTick === req.expect.lastTick && current.schedule === req.expect.schedule;
      if (!matches) return { ok: false, state: current };
      const now = this.clock();
      for (const f of req.fires) {
        const taken =
          sql.insertFire.run(req.entry, f.tick, f.taskId, f.catchUp ? 1 : 0, now, JSON.stringify(outboxOf(f.message))).changes === 0;
        if (taken) throw new TickTaken(current);
      }
      const catchUps = req.fires.filter((f) => f.catchUp).length;
      sql.upsertEntry.run(req.entry, req.schedule, req.lastTick, req.nextTick, req.fires.length, req.missed, catchUps, now);
      sql.trimHistory.run(req.entry, req.entry, Math.max(0, req.historyLimit));
      return { ok: true, claimedAt: now };
    }).immediate;
    this.recordTx = db.transaction((run: CleanupRunRecord) => {
      sql.insertRun.run(run.startedAt, JSON.stringify(run));
      sql.trimRuns.run(RUNS_KEPT);
    }).immediate;
    // The slot's primary key decides which of two beats' samples stays (INSERT ... DO NOTHING).
    this.sampleTx = db.transaction((slot: number, sample: StorageSample, cutoff: number) => {
      sql.trimSamples.run(cutoff, HISTORY_TRIM_BATCH);
      return sql.insertSample.run(slot, sample.at, sampleJson(sample)).changes > 0;
    }).immediate;
  }

  async now(): Promise<number> {
    return this.clock();
  }

  async states(entries: readonly string[]): Promise<Map<string, EntryState>> {
    return this.readStates(entries);
  }

  async claim(request: ClaimRequest): Promise<ClaimOutcome> {
    try {
      return this.claimTx(request);
    } catch (err) {
      if (err instanceof TickTaken) return { ok: false, state: err.state };
      throw err;
    }
  }

  async markSent(entry: string, tick: number): Promise<boolean> {
    return this.sql.markSent.run(this.clock(), entry, tick).changes > 0;
  }

  async unsent(claimedFrom: number, claimedTo: number, limit: number): Promise<Array<FireRecord & { message: OutboxMessage }>> {
    return this.sql.unsent
      .all(claimedFrom, claimedTo, Math.max(0, limit))
      .map((r) => ({ ...toFire(r), message: outboxOf(JSON.parse(r.message) as OutboxMessage) }));
  }

  async history(entry: string, limit: number): Promise<FireRecord[]> {
    return this.sql.history.all(entry, Math.max(0, limit)).map(toFire);
  }

  async recordRun(run: CleanupRunRecord): Promise<void> {
    this.recordTx(run);
  }

  async runs(limit: number): Promise<CleanupRunRecord[]> {
    return this.sql.runs.all(Math.max(0, limit)).map((record) => JSON.parse(record) as CleanupRunRecord);
  }

  async addSample(sample: StorageSample, options: SampleOptions): Promise<boolean> {
    return this.sampleTx(sampleSlot(sample.at, options), sample, sample.at - options.keepMs);
  }

  async latestSampleAt(): Promise<number | null> {
    return this.sql.latestSample.get() ?? null;
  }

  async samples(since: number, limit: number): Promise<StorageSample[]> {
    return this.sql.samples.all(since, Math.max(0, limit)).flatMap((json) => parseSample(json) ?? []);
  }

  private readStates(entries: readonly string[]): Map<string, EntryState> {
    const out = new Map<string, EntryState>();
    for (const row of this.sql.states.all(JSON.stringify(entries))) out.set(row.entry, toState(row));
    return out;
  }
}

/** Every statement the store runs, prepared once per store. */
function prepare(db: Database.Database) {
  return {
    // The newest fire per entry is one probe of the (entry, tick) primary key. json_each keeps
    // the list one bound parameter, however many entries beat asks about.
    states: db.prepare<[string], StateRow>(
      `SELECT e.entry, e.schedule, e.last_tick, e.next_tick, e.fired, e.missed, e.catch_ups,
              f.tick, f.task_id, f.catch_up, f.claimed_at, f.sent_at
       FROM ebb_beat_entries e
       LEFT JOIN ebb_beat_fires f ON f.entry = e.entry AND f.tick = (SELECT max(tick) FROM ebb_beat_fires WHERE entry = e.entry)
       WHERE e.entry IN (SELECT value FROM json_each(?))`,
    ),
    // DO NOTHING, so a taken tick shows as changes = 0 rather than as a constraint error.
    insertFire: db.prepare<[string, number, string, number, number, string]>(
      `INSERT INTO ebb_beat_fires (entry, tick, task_id, catch_up, claimed_at, message) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entry, tick) DO NOTHING`,
    ),
    // The counters are bound as this claim's increments: a fresh row starts from them.
    upsertEntry: db.prepare<[string, string, number, number | null, number, number, number, number]>(
      `INSERT INTO ebb_beat_entries (entry, schedule, last_tick, next_tick, fired, missed, catch_ups, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(entry) DO UPDATE SET schedule = excluded.schedule, last_tick = excluded.last_tick, next_tick = excluded.next_tick,
         fired = fired + excluded.fired, missed = missed + excluded.missed, catch_ups = catch_ups + excluded.catch_ups, updated_at = excluded.updated_at`,
    ),
    // Deletes every tick at or below the (limit+1)-th newest; when there are not that many the
    // subquery is NULL and nothing is deleted.
    trimHistory: db.prepare<[string, string, number]>(
      `DELETE FROM ebb_beat_fires WHERE entry = ? AND tick <= (SELECT tick FROM ebb_beat_fires WHERE entry = ? ORDER BY tick DESC LIMIT 1 OFFSET ?)`,
    ),
    markSent: db.prepare<[number, string, number]>(
      `UPDATE ebb_beat_fires SET sent_at = ?, message = NULL WHERE entry = ? AND tick = ? AND sent_at IS NULL`,
    ),
    // sent_at IS NULL lets the planner use the partial index ebb_beat_fires_unsent, which is also in ORDER BY order.
    unsent: db.prepare<[number, number, number], OutboxRow>(
      `SELECT ${FIRE_COLUMNS}, message FROM ebb_beat_fires
       WHERE sent_at IS NULL AND message IS NOT NULL AND claimed_at BETWEEN ? AND ?
       ORDER BY claimed_at, tick, entry LIMIT ?`,
    ),
    history: db.prepare<[string, number], FireRow>(`SELECT ${FIRE_COLUMNS} FROM ebb_beat_fires WHERE entry = ? ORDER BY tick DESC LIMIT ?`),
    insertRun: db.prepare<[number, string]>(`INSERT INTO ebb_cleanup_runs (started_at, record) VALUES (?, ?)`),
    trimRuns: db.prepare<[number]>(
      `DELETE FROM ebb_cleanup_runs WHERE id <= (SELECT id FROM ebb_cleanup_runs ORDER BY id DESC LIMIT 1 OFFSET ?)`,
    ),
    runs: db.prepare<[number], string>(`SELECT record FROM ebb_cleanup_runs ORDER BY id DESC LIMIT ?`).pluck(),
    insertSample: db.prepare<[number, number, string]>(
      `INSERT INTO ebb_history (slot, at, sample) VALUES (?, ?, ?) ON CONFLICT(slot) DO NOTHING`,
    ),
    // The oldest first, a bounded batch, through the at index.
    trimSamples: db.prepare<[number, number]>(
      `DELETE FROM ebb_history WHERE slot IN (SELECT slot FROM ebb_history WHERE at < ? ORDER BY at LIMIT ?)`,
    ),
    latestSample: db.prepare<[], number>(`SELECT max(at) FROM ebb_history`).pluck(),
    samples: db.prepare<[number, number], string>(`SELECT sample FROM ebb_history WHERE at >= ? ORDER BY at LIMIT ?`).pluck(),
  };
}

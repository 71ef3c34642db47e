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
import type { PostgresPool, Queryable } from "../../postgres/pg-pool.js";

/** A claim that met a taken (entry, tick): thrown inside the transaction so it rolls back, caught outside. */
class TickTaken {
  constructor(readonly state: EntryState | null) {}
}

/**
 * Beat's state in ebb_beat_entries, ebb_beat_fires and ebb_cleanup_runs (migration
 * 0003_beat.sql), and the storage history in ebb_history (0005_history.sql). A claim is one transaction under an advisory lock on its entry, so claims for
 * one entry from any number of processes are serialised and each sees the state the one before
 * it left; the fires' (entry, tick) primary key, taken with INSERT ... ON CONFLICT DO NOTHING, is
 * the second guard: a tick fired once is never inserted again while its row is in history.
 */
export class PostgresScheduleStore implements ScheduleStore {
  constructor(
    private readonly pg: PostgresPool,
    private readonly s: string,
    private readonly schema: string,
    readonly now: () => Promise<number>,
  ) {}

  async states(entries: readonly string[]): Promise<Map<string, EntryState>> {
    return this.readStates(entries);
  }

  async claim(req: ClaimRequest): Promise<ClaimOutcome> {
    const now = await this.now();
    try {
      return await this.pg.transaction(async (client) => {
        await this.pg.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`ebb-beat:${this.schema}:${req.entry}`], client);
        const current = (await this.readStates([req.entry], client)).get(req.entry) ?? null;
        const matches =
          req.expect === null
            ? current === null
            : current !== null && current.lastTick === req.expect.lastTick && current.schedule === req.expect.schedule;
        if (!matches) return { ok: false, state: current } as const;
        for (const f of req.fires) {
          const taken = await this.pg.query(
            `INSERT INTO ${this.s}.ebb_beat_fires (entry, tick, task_id, catch_up, claimed_at, message) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (entry, tick) DO NOTHING RETURNING 1`,
            [req.entry, f.tick, f.taskId, f.catchUp, now, JSON.stringify(outboxOf(f.message))],
            client,
          );
          if (taken.length === 0) throw new TickTaken(current);
        }
        const catchUps = req.fires.filter((f) => f.catchUp).length;
        await this.pg.query(
          `INSERT INTO ${this.s}.ebb_beat_entries (entry, schedule, last_tick, next_tick, fired, missed, catch_ups, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (entry) DO UPDATE SET schedule = excluded.schedule, last_tick = excluded.last_tick, next_tick = excluded.next_tick,
             fired = ebb_beat_entries.fired + excluded.fired, missed = ebb_beat_entries.missed + excluded.missed,
             catch_ups = ebb_beat_entries.catch_ups + excluded.catch_ups, updated_at = excluded.updated_at`,
          [req.entry, req.schedule, req.lastTick, req.nextTick, req.fires.length, req.missed, catchUps, now],
          client,
        );
        // Every tick at or below the (limit+1)-th newest goes; with fewer fires the subquery is NULL.
        await this.pg.query(
          `DELETE FROM ${this.s}.ebb_beat_fires WHERE entry = $1
             AND tick <= (SELECT tick FROM ${this.s}.ebb_beat_fires WHERE entry = $1 ORDER BY tick DESC LIMIT 1 OFFSET $2)`,
          [req.entry, Math.max(0, req.historyLimit)],
          client,
        );
        return { ok: true, claimedAt: now } as const;
      });
    } catch (err) {
      if (err instanceof TickTaken) return { ok: false, state: err.state };
      throw err;
    }
  }

  async markSent(entry: string, tick: number): Promise<boolean> {
    const rows = await this.pg.query(
      `UPDATE ${this.s}.ebb_beat_fires SET sent_at = $1, message = NULL WHERE entry = $2 AND tick = $3 AND sent_at IS NULL RETURNING 1`,
      [await this.now(), entry, tick],
    );
    return rows.length > 0;
  }

  async unsent(claimedFrom: number, claimedTo: number, limit: number): Promise<Array<FireRecord & { message: OutboxMessage }>> {
    const rows = await this.pg.query<FireRow & { message: string }>(
      `SELECT ${FIRE_COLUMNS}, message FROM ${this.s}.ebb_beat_fires
        WHERE sent_at IS NULL AND message IS NOT NULL AND claimed_at BETWEEN $1 AND $2
        ORDER BY claimed_at, tick, entry LIMIT $3`,
      [claimedFrom, claimedTo, Math.max(0, limit)],
    );
    return rows.map((r) => ({ ...toFire(r), message: outboxOf(JSON.parse(r.message) as OutboxMessage) }));
  }

  async history(entry: string, limit: number): Promise<FireRecord[]> {
    const rows = await this.pg.query<FireRow>(
      `SELECT ${FIRE_COLUMNS} FROM ${this.s}.ebb_beat_fires WHERE entry = $1 ORDER BY tick DESC LIMIT $2`,
      [entry, Math.max(0, limit)],
    );
    return rows.map(toFire);
  }

  async recordRun(run: CleanupRunRecord): Promise<void> {
    await this.pg.transaction(async (client) => {
      await this.pg.query(
        `INSERT INTO ${this.s}.ebb_cleanup_runs (started_at, record) VALUES ($1, $2)`,
        [run.startedAt, JSON.stringify(run)],
        client,
      );
      await this.pg.query(
        `DELETE FROM ${this.s}.ebb_cleanup_runs WHERE id <= (SELECT id FROM ${this.s}.ebb_cleanup_runs ORDER BY id DESC LIMIT 1 OFFSET $1)`,
        [RUNS_KEPT],
        client,
      );
    });
  }

  async runs(limit: number): Promise<CleanupRunRecord[]> {
    const rows = await this.pg.query<{ record: string }>(`SELECT record FROM ${this.s}.ebb_cleanup_runs ORDER BY id DESC LIMIT $1`, [
      Math.max(0, limit),
    ]);
    return rows.map((r) => JSON.parse(r.record) as CleanupRunRecord);
  }

  /**
   * One statement: the insert takes the slot's primary key (ON CONFLICT DO NOTHING: a concurrent
   * insert of the same slot waits for the first, then does nothing), and the trim deletes a
   * bounded batch of the oldest samples beside it.
   */
  async addSample(sample: StorageSample, options: SampleOptions): Promise<boolean> {
    const slot = sampleSlot(sample.at, options);
    const rows = await this.pg.query<{ stored: number }>(
      `WITH stored AS (
         INSERT INTO ${this.s}.ebb_history (slot, at, sample) VALUES ($1, $2, $3) ON CONFLICT (slot) DO NOTHING RETURNING 1
       ), trimmed AS (
         DELETE FROM ${this.s}.ebb_history WHERE slot IN (SELECT slot FROM ${this.s}.ebb_history WHERE at < $4 ORDER BY at LIMIT $5)
       )
       SELECT count(*) AS stored FROM stored`,
      [slot, sample.at, sampleJson(sample), sample.at - options.keepMs, HISTORY_TRIM_BATCH],
    );
    return (rows[0]?.stored ?? 0) > 0;
  }

  async latestSampleAt(): Promise<number | null> {
    const rows = await this.pg.query<{ at: number | null }>(`SELECT max(at) AS at FROM ${this.s}.ebb_history`, []);
    return rows[0]?.at ?? null;
  }

  async samples(since: number, limit: number): Promise<StorageSample[]> {
    const rows = await this.pg.query<{ sample: string }>(`SELECT sample FROM ${this.s}.ebb_history WHERE at >= $1 ORDER BY at LIMIT $2`, [
      since,
      Math.max(0, limit),
    ]);
    return rows.flatMap((r) => parseSample(r.sample) ?? []);
  }

  private async readStates(entries: readonly string[], on?: Queryable): Promise<Map<string, EntryState>> {
    const rows = await this.pg.query<StateRow>(
      `SELECT e.entry, e.schedule, e.last_tick, e.next_tick, e.fired, e.missed, e.catch_ups,
              f.tick, f.task_id, f.catch_up, f.claimed_at, f.sent_at
         FROM ${this.s}.ebb_beat_entries e
         LEFT JOIN LATERAL (SELECT * FROM ${this.s}.ebb_beat_fires x WHERE x.entry = e.entry ORDER BY x.tick DESC LIMIT 1) f ON true
        WHERE e.entry = ANY($1::text[])`,
      [[...entries]],
      on,
    );
    return new Map(rows.map((r) => [r.entry, toState(r)]));
  }
}

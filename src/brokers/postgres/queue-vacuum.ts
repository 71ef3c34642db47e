import type { Logger } from "../../logger.js";
import type { PostgresPool } from "../../postgres/pg-pool.js";

/**
 * Every lease and every ack leaves a dead row version in the messages table. Autovacuum clears
 * them (the table's own thresholds in 0002_broker.sql make it come after about a thousand); where
 * autovacuum is off, for the server or for this table, nothing would, and the table and its fetch
 * index would grow with every message ever sent. So a consuming broker looks now and then and,
 * when autovacuum is off and the dead rows pass max(1000, a fifth of the live ones), runs
 * `VACUUM (SKIP_LOCKED)` itself: it never waits for another process's vacuum, and a plain VACUUM
 * blocks no publish, lease or ack.
 *
 * It looks after `everyMessages` leased messages or `everyMs`, whichever comes first (and only
 * when some were leased: an idle worker costs nothing). A failed look or vacuum is logged once
 * until one succeeds; consuming goes on either way.
 */
export interface QueueVacuumOptions {
  /** The table as SQL names it, quoted and qualified: "schema".ebb_messages. */
  table: string;
  log?: Logger;
  everyMessages?: number;
  everyMs?: number;
  now?: () => number;
}

export interface VacuumLook {
  /** Whether autovacuum looks after the table (the server setting and the table's own). */
  autovacuum: boolean;
  dead: number;
  live: number;
  /** Whether this look ran VACUUM. */
  vacuumed: boolean;
}

const MIN_DEAD = 1_000;

export class QueueVacuum {
  private leased = 0;
  private lastLook: number;
  private running: Promise<VacuumLook | null> | null = null;
  private failing = false;
  private readonly everyMessages: number;
  private readonly everyMs: number;
  private readonly now: () => number;

  constructor(
    private readonly pg: PostgresPool,
    private readonly opts: QueueVacuumOptions,
  ) {
    this.everyMessages = opts.everyMessages ?? 5_000;
    this.everyMs = opts.everyMs ?? 10_000;
    this.now = opts.now ?? (() => performance.now());
    this.lastLook = this.now();
  }

  /** `n` messages were leased: look (in the background) when it is time. */
  leasedSome(n: number): void {
    this.leased += n;
    if (this.leased === 0 || this.running) return;
    if (this.leased < this.everyMessages && this.now() - this.lastLook < this.everyMs) return;
    void this.look();
  }

  /** Look now (and vacuum if due); resolves with what it saw, or null when the look failed. */
  look(): Promise<VacuumLook | null> {
    this.running ??= this.lookOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Resolves once a look in progress has ended (close() waits for it). */
  async settled(): Promise<void> {
    await this.running;
  }

  private async lookOnce(): Promise<VacuumLook | null> {
    this.leased = 0;
    this.lastLook = this.now();
    try {
      const [row] = await this.pg.query<{ autovacuum: boolean; dead: number; live: number }>(
        `SELECT current_setting('autovacuum')::boolean
                AND coalesce((SELECT o.option_value::boolean FROM pg_options_to_table(c.reloptions) o
                               WHERE o.option_name = 'autovacuum_enabled'), true) AS autovacuum,
                coalesce(s.n_dead_tup, 0) AS dead, coalesce(s.n_live_tup, 0) AS live
           FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
          WHERE c.oid = $1::regclass`,
        [this.opts.table],
      );
      const seen = { autovacuum: row?.autovacuum ?? true, dead: Number(row?.dead ?? 0), live: Number(row?.live ?? 0) };
      const due = !seen.autovacuum && seen.dead >= Math.max(MIN_DEAD, seen.live / 5);
      if (due) await this.pg.query(`VACUUM (SKIP_LOCKED) ${this.opts.table}`);
      this.failing = false;
      return { ...seen, vacuumed: due };
    } catch (error) {
      if (!this.failing)
        this.opts.log?.warn(
          `Could not vacuum the queue table ${this.opts.table} in ${this.pg.display}: ${(error as Error).message}; consuming goes on, and it is tried again later`,
        );
      this.failing = true;
      return null;
    }
  }
}

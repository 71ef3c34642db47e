import type { ChangeHub } from "../../change-hub.js";
import type { Logger } from "../../logger.js";
import type { PostgresPool } from "../../postgres/pg-pool.js";

/** Ids asked about per poll query. */
const CHUNK = 1_000;

/**
 * One poll for every result this process watches, however many callers wait: every interval, one
 * query per thousand watched ids reads each one's state (status and hold), and the ids whose
 * state changed since the last poll (or that were not polled yet) are woken through the hub.
 * 2,000 callers waiting on get() cost one query every interval, not 2,000.
 *
 * No change is missed: a watch is registered before its caller looks at the result, and an id's
 * first poll always wakes it (the caller looks again, and finds nothing new or the change).
 * Writes made by this process wake their watchers at once, without waiting for a poll.
 */
export class ResultPoller {
  /** Watched id -> number of watches on it. */
  private readonly watched = new Map<string, number>();
  /** Id -> its state at the last poll ("" for no row); absent until first polled. */
  private readonly seen = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  /** Set while polls fail: the outage is logged once, and again when polling works again. */
  private failing = false;

  constructor(
    private readonly pg: PostgresPool,
    private readonly s: string,
    private readonly hub: ChangeHub,
    private readonly topic: (taskId: string) => string,
    private readonly intervalMs: number,
    private readonly log?: Logger,
  ) {}

  /** Watch an id until the returned function is called. */
  add(taskId: string): () => void {
    this.watched.set(taskId, (this.watched.get(taskId) ?? 0) + 1);
    this.timer ??= setInterval(() => void this.poll(), this.intervalMs);
    this.timer.unref();
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      const n = (this.watched.get(taskId) ?? 1) - 1;
      if (n > 0) this.watched.set(taskId, n);
      else {
        this.watched.delete(taskId);
        this.seen.delete(taskId);
      }
      if (this.watched.size === 0) this.stop();
    };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round: read every watched id's state, wake those that changed. A failed round is retried by the next. */
  async poll(): Promise<void> {
    if (this.polling || this.watched.size === 0) return;
    this.polling = true;
    try {
      const ids = [...this.watched.keys()];
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        const rows = await this.pg.query<{ task_id: string; state: string }>(
          `SELECT task_id, status || CASE WHEN held THEN ':held' ELSE '' END AS state FROM ${this.s}.ebb_results WHERE task_id = ANY($1::text[])`,
          [chunk],
        );
        const states = new Map(rows.map((r) => [r.task_id, r.state]));
        for (const id of chunk) {
          if (!this.watched.has(id)) continue;
          const state = states.get(id) ?? "";
          if (this.seen.get(id) === state) continue;
          this.seen.set(id, state);
          this.hub.notify(this.topic(id));
        }
      }
      if (this.failing) {
        this.failing = false;
        this.log?.info(`Watching results in ${this.pg.display} works again`);
      }
    } catch (error) {
      // The store is unreachable for now: the next round tries again, and the waiters' own
      // deadlines still end their waits. Said once per outage, not once per round.
      if (!this.failing) {
        this.failing = true;
        this.log?.warn(
          `Could not read the ${this.watched.size} watched results in ${this.pg.display}: ${(error as Error).message}; trying again every ${this.intervalMs} ms (callers still waiting time out as they asked)`,
        );
      }
    } finally {
      this.polling = false;
    }
  }
}

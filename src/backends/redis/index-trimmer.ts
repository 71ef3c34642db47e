import type { BackgroundReport } from "../../store-health.js";

/** Entries dropped per script call: small enough that one call takes well under a millisecond. */
export const TRIM_BATCH = 1000;

export interface IndexTrimmerOptions {
  /** Runs the trim script once: drops at most `limit` entries expired at or before `cutoff`, returns how many. */
  trimBatch(cutoff: number, limit: number): Promise<number>;
  /** Store clock, epoch ms. */
  now(): number;
  /** How long an id reads EXPIRED after its expiry; entries older than that are dropped. */
  graceMs(): number;
  /** Least time between two trims started by traffic. */
  intervalMs: number;
  batch?: number;
  /** Where trims started by poke() report their errors (as "index trimmer"). */
  report?: BackgroundReport;
  /** Run after each trim (the tombstone compactor): same schedule, same error report. */
  afterTrim?: () => Promise<unknown>;
}

const COMPONENT = "index trimmer";

/**
 * Keeps the ttl index bounded in a long-running process without a timer of its own: store() and
 * lookup() call poke(), which starts a trim at most once per interval and never makes the caller
 * wait. A trim runs batches back to back (each one script call, so live commands interleave) until
 * a batch comes back short. Errors go to the report (the app's log); the next interval tries again.
 */
export class IndexTrimmer {
  private lastStart = -Infinity;
  private running: Promise<number> | undefined;
  private stopped = false;
  private readonly batch: number;

  constructor(private readonly opts: IndexTrimmerOptions) {
    this.batch = opts.batch ?? TRIM_BATCH;
  }

  poke(): void {
    if (this.stopped || this.running || performance.now() - this.lastStart < this.opts.intervalMs) return;
    void this.trim().then(
      () => this.opts.report?.succeeded(COMPONENT),
      (e: unknown) => this.opts.report?.failed(COMPONENT, e),
    );
  }

  /** Trim now (or join the trim already running); resolves with the number of entries dropped. */
  trim(): Promise<number> {
    this.running ??= this.loop().finally(() => (this.running = undefined));
    return this.running;
  }

  /** No new trims; waits for one in flight, so the connection can be closed after. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }

  private async loop(): Promise<number> {
    this.lastStart = performance.now();
    let total = 0;
    for (;;) {
      const dropped = await this.opts.trimBatch(this.opts.now() - this.opts.graceMs(), this.batch);
      total += dropped;
      if (dropped < this.batch || this.stopped) break;
    }
    if (!this.stopped) await this.opts.afterTrim?.();
    return total;
  }
}

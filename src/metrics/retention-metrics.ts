import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { CleanupRunRecord } from "../beat/schedule-store.js";
import type { Census } from "../monitor/census.js";
import { REMOVAL_REASONS, type CleanupRun, type RemovalReason, type RemovedResult } from "../retention/retention-observer.js";
import type { StoredState } from "../states.js";
import { CensusView } from "./census-view.js";

const MINUTE = 60;
const HOUR = 3_600;
const DAY = 86_400;
/** Cleanup runs last from milliseconds (an empty store) to an hour (a large first run). */
export const CLEANUP_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR];
/** How old results are when they leave: a minute to a year. */
export const REMOVAL_AGE_BUCKETS = [MINUTE, HOUR, 6 * HOUR, DAY, 3 * DAY, 7 * DAY, 30 * DAY, 90 * DAY, 365 * DAY];

/**
 * The `ebb_` retention metrics. The gauges read a CensusView (the last census, adjusted by this
 * process's writes and removals), never the store: a scrape costs no store query. Until a census
 * is set the census gauges are absent, as are the last cleanup and forecast gauges until known.
 */
export class RetentionMetrics {
  readonly view: CensusView;
  readonly #written: Counter<"tier">;
  readonly #removed: Counter<"reason">;
  readonly #cleanupDuration: Histogram;
  readonly #ageAtRemoval: Histogram;
  readonly #writtenChildren = new Map<string, { inc(n?: number): void }>();
  #lastCleanupSuccess: number | null = null;
  #forecast: number | null = null;

  constructor(registry: Registry, now: () => number) {
    const view = new CensusView(now);
    this.view = view;
    const registers = [registry];
    new Gauge({
      name: "ebb_results",
      help: "Results in the store, by tier and state (the last census, adjusted by this process's writes and removals).",
      labelNames: ["tier", "state"],
      registers,
      collect() {
        this.reset();
        for (const c of view.cells()) this.set({ tier: c.tier, state: c.state }, c.count);
      },
    });
    new Gauge({
      name: "ebb_result_bytes",
      help: "Bytes the store spends on results, by tier and state (as ebb_results).",
      labelNames: ["tier", "state"],
      registers,
      collect() {
        this.reset();
        for (const c of view.cells()) this.set({ tier: c.tier, state: c.state }, Math.round(c.bytes));
      },
    });
    unlabeled(registry, "ebb_oldest_result_age_seconds", "Seconds since the oldest result in the store was done.", () =>
      view.oldestResultAgeSeconds(),
    );
    new Gauge({
      name: "ebb_results_expiring",
      help: "Results (not held) that expire within 1h, 24h and 7d of the last census.",
      labelNames: ["within"],
      registers,
      collect() {
        const e = view.expiring;
        if (!e) return this.reset();
        this.set({ within: "1h" }, e.hour);
        this.set({ within: "24h" }, e.day);
        this.set({ within: "7d" }, e.week);
      },
    });
    unlabeled(
      registry,
      "ebb_expired_pending_results",
      "Expired results (not held) that cleanup has not removed yet.",
      () => view.expiredPending,
    );
    unlabeled(
      registry,
      "ebb_oldest_expired_pending_age_seconds",
      "Seconds since the oldest expired, not yet removed result expired (0 with no backlog).",
      () => view.oldestPendingAgeSeconds(),
    );
    unlabeled(
      registry,
      "ebb_last_cleanup_success_timestamp_seconds",
      "When the last successful cleanup run ended, unix seconds.",
      () => this.#lastCleanupSuccess,
    );
    const forecast = () => this.#forecast;
    new Gauge({
      name: "ebb_forecast_bytes",
      help: "The store's bytes forecast at the horizon.",
      labelNames: ["horizon"],
      registers,
      collect() {
        const v = forecast();
        if (v === null) this.reset();
        else this.set({ horizon: "7d" }, v);
      },
    });
    this.#written = new Counter({
      name: "ebb_results_written_total",
      help: "Results this process stored, by tier (a result counts once, whatever states it passes through).",
      labelNames: ["tier"],
      registers,
    });
    this.#removed = new Counter({
      name: "ebb_results_removed_total",
      help: "Results this process removed from the store, by reason: expired, manual (--older-than), archived, included_permanent.",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of REMOVAL_REASONS) this.#removed.labels(reason).inc(0);
    this.#cleanupDuration = new Histogram({
      name: "ebb_cleanup_duration_seconds",
      help: "How long cleanup runs took (dry runs left out).",
      buckets: CLEANUP_BUCKETS,
      registers,
    });
    this.#ageAtRemoval = new Histogram({
      name: "ebb_result_age_at_removal_seconds",
      help: "How long after it was done a result was removed.",
      buckets: REMOVAL_AGE_BUCKETS,
      registers,
    });
  }

  setCensus(census: Census | null): void {
    this.view.set(census);
  }

  setForecast(bytesIn7d: number | null): void {
    this.#forecast = bytesIn7d === null || !Number.isFinite(bytesIn7d) ? null : bytesIn7d;
  }

  resultWritten(
    tier: string | null,
    state: StoredState,
    bytes?: number,
    more: { expiresAt?: number | null; replaces?: StoredState | null } = {},
  ): void {
    const name = tier ?? "none";
    const replaces = more.replaces ?? null;
    if (replaces === null) {
      let child = this.#writtenChildren.get(name);
      if (!child) {
        child = this.#written.labels(name);
        this.#writtenChildren.set(name, child);
      }
      child.inc();
    }
    this.view.written(name, state, bytes, more.expiresAt, replaces);
  }

  resultsRemoved(reason: RemovalReason, count: number, agesSeconds: Iterable<number> = [], removed?: readonly RemovedResult[]): void {
    if (count > 0) this.#removed.labels(reason).inc(count);
    for (const age of agesSeconds) if (Number.isFinite(age)) this.#ageAtRemoval.observe(Math.max(0, age));
    if (removed) this.view.removed(removed);
  }

  droppedExpired(count: number): void {
    if (count <= 0) return;
    this.#removed.labels("expired").inc(count);
    this.view.droppedExpired(count);
  }

  cleanupFinished(run: { durationMs: number; ok: boolean; at: number; dryRun?: boolean }): void {
    if (run.dryRun) return;
    this.#cleanupDuration.observe(Math.max(0, run.durationMs) / 1000);
    if (run.ok) this.#successAt(run.at);
  }

  /** The last successful run from recorded runs (ScheduleStore.runs(), any order): its end. Dry runs and failed runs are skipped. */
  seedCleanupRuns(runs: readonly CleanupRunRecord[]): void {
    for (const r of runs) if (!r.dryRun && r.errors.length === 0) this.#successAt(r.startedAt + r.durationMs);
  }

  #successAt(atMs: number): void {
    const s = atMs / 1000;
    if (Number.isFinite(s) && (this.#lastCleanupSuccess === null || s > this.#lastCleanupSuccess)) this.#lastCleanupSuccess = s;
  }
}

export type { CleanupRun };

/** A gauge without labels whose value is read at scrape time; absent while `read` returns null. */
function unlabeled(registry: Registry, name: string, help: string, read: () => number | null): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read();
      if (v === null) this.remove();
      else this.set(v);
    },
  });
}

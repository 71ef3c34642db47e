import { Registry } from "prom-client";
import type { CleanupRunRecord } from "../beat/schedule-store.js";
import type { Census } from "../monitor/census.js";
import type { RemovalReason, RemovedResult, RetentionObserver } from "../retention/retention-observer.js";
import type { StoredState } from "../states.js";
import { RetentionMetrics } from "./retention-metrics.js";
import { TaskMetrics } from "./task-metrics.js";

export interface MetricsOptions {
  /** This process's clock, epoch ms (tests). Default Date.now. */
  now?: () => number;
}

/**
 * Ebb's Prometheus metrics, in a registry of their own (never prom-client's global one, so
 * several apps or tests in one process do not collide): Celery's task metrics under
 * celery-exporter's names (`tasks`), and the `ebb_` retention metrics. See README, Metrics.
 */
export class EbbMetrics {
  readonly registry = new Registry();
  /** celery_task_*_total, celery_task_runtime, celery_worker_up. */
  readonly tasks: TaskMetrics;
  readonly #retention: RetentionMetrics;
  /** Tells these metrics what retention operations remove and when they end (app.observe() takes it). */
  readonly retentionObserver: RetentionObserver;

  constructor(options: MetricsOptions = {}) {
    const now = options.now ?? Date.now;
    this.tasks = new TaskMetrics(this.registry);
    this.#retention = new RetentionMetrics(this.registry, now);
    const retention = this.#retention;
    this.retentionObserver = {
      removed: (reason, results, at) => retention.resultsRemoved(reason, results.length, agesOf(results, at), results),
      droppedExpired: (count) => retention.droppedExpired(count),
      cleanupFinished: (run) => retention.cleanupFinished(run),
    };
  }

  /** The Content-Type of text(): Prometheus text format 0.0.4. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Replace the counts the `ebb_` gauges start from (beat's sampler, the dashboard's count); null forgets them. */
  setCensus(census: Census | null): void {
    this.#retention.setCensus(census);
  }

  /** ebb_forecast_bytes{horizon="7d"}: the store's bytes expected in 7 days; null when there is no forecast. */
  setForecast(bytesIn7d: number | null): void {
    this.#retention.setForecast(bytesIn7d);
  }

  /**
   * This process stored a result: ebb_results_written_total{tier} + 1, and + 1 in its census cell
   * (+ bytes if known, else the cell's mean size). With `replaces`, the result had that state
   * before (STARTED, RETRY): it moves between cells and is not counted as written again.
   */
  resultWritten(
    tier: string | null,
    state: StoredState,
    bytes?: number,
    more?: { expiresAt?: number | null; replaces?: StoredState | null },
  ): void {
    this.#retention.resultWritten(tier, state, bytes, more);
  }

  /**
   * Results removed: ebb_results_removed_total{reason} + count, each age (seconds since done)
   * into ebb_result_age_at_removal_seconds; with `removed`, the census cells move too.
   */
  resultsRemoved(reason: RemovalReason, count: number, ages: Iterable<number> = [], removed?: readonly RemovedResult[]): void {
    this.#retention.resultsRemoved(reason, count, ages, removed);
  }

  /** A cleanup run ended at `at` (epoch ms): its duration, and when ok the last success timestamp. Dry runs are ignored. */
  cleanupFinished(run: { durationMs: number; ok: boolean; at: number; dryRun?: boolean }): void {
    this.#retention.cleanupFinished(run);
  }

  /** Seed ebb_last_cleanup_success_timestamp_seconds from recorded runs (`await scheduleStore.runs(n)`). */
  seedCleanupRuns(runs: readonly CleanupRunRecord[]): void {
    this.#retention.seedCleanupRuns(runs);
  }

  /** celery_worker_up: 1 while this process's worker runs, 0 once it stops (attachWorker sets it). */
  setWorkerUp(up: boolean): void {
    this.tasks.setWorkerUp(up);
  }
}

export function createMetrics(options: MetricsOptions = {}): EbbMetrics {
  return new EbbMetrics(options);
}

/** Seconds from each result's dateDone to `now` (results never done are left out). */
function* agesOf(results: readonly RemovedResult[], now: number): Generator<number> {
  for (const r of results) if (r.dateDone !== null) yield (now - r.dateDone) / 1000;
}

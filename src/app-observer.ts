import type { Census } from "./monitor/census.js";
import type { RetentionObserver } from "./retention/retention-observer.js";

/**
 * Told what an app does, for metrics (`app.observe(observer)`): the task messages it publishes,
 * and what its retention operations (app.retention.cleanup, the built-in cleanup tasks) remove.
 * Every method is optional; one that throws is ignored.
 */
export interface AppObserver extends RetentionObserver {
  /** `count` messages of task `name` were published to `queue` (sendTask, delay, sendMany, canvas). */
  sent?(name: string, queue: string, count: number): void;
  /** This app counted its result store (beat's history sampler): the ebb_ gauges start from it. */
  census?(census: Census): void;
}

/** Tell every observer that messages were sent. Allocates nothing. */
export function tellSent(observers: ReadonlySet<AppObserver>, name: string, queue: string, count: number): void {
  for (const o of observers) {
    try {
      o.sent?.(name, queue, count);
    } catch {
      // An observer never fails a send.
    }
  }
}

/** Tell every observer of a new census; returns it. */
export function tellCensus(observers: ReadonlySet<AppObserver>, census: Census): Census {
  for (const o of observers) {
    try {
      o.census?.(census);
    } catch {
      // An observer never fails a count.
    }
  }
  return census;
}

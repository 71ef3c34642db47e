/**
 * One timed drain: start a worker on a full queue and wait for its bench-done line (peers/
 * done-report.ts), with optional Redis snapshots taken just before the spawn and as soon as the
 * line arrives. Processing time is the worker's own: first handler call to N tasks stored and
 * acked; worker CPU is utime+stime of the worker process over that same span.
 */
import type { Redis } from "ioredis";
import { DONE_LINE, type DoneReport } from "./peers/done-report.js";
import type { Child } from "./harness.js";
import { clockTicksPerSecond } from "./proc-stats.js";
import { costOf, type RedisCost } from "./redis-cost.js";
import { snapshot } from "./redis-stats.js";

export interface Drain {
  /** Tasks per second, first handler call to the last task stored and acked. */
  perSecond: number;
  seconds: number;
  /** Worker CPU (utime+stime) per task over the same span, µs. */
  workerCpuUs: number;
  /** Worker's peak resident set (VmHWM) when done, MB. */
  maxRssMB: number;
  /** Redis's CPU and commands from just before the worker was spawned to the done line. */
  redis?: RedisCost;
}

/** `before stop`: runs after the done line while the worker is still up (it is stopped after). */
export async function drain(n: number, start: () => Promise<Child>, redis?: Redis, beforeStop?: () => Promise<void>): Promise<Drain> {
  const before = redis ? await snapshot(redis) : undefined;
  const child = await start();
  try {
    const m = await child.waitFor(DONE_LINE, Math.max(180_000, n * 10));
    const after = redis ? await snapshot(redis) : undefined;
    const r = JSON.parse(m[1]!) as DoneReport;
    await beforeStop?.();
    const seconds = Math.max(0.001, (r.doneAt - r.firstAt) / 1000);
    return {
      perSecond: n / seconds,
      seconds,
      workerCpuUs: (((r.cpuDone - r.cpuFirst) / clockTicksPerSecond()) * 1e6) / n,
      maxRssMB: r.hwmKB / 1024,
      ...(before && after && redis ? { redis: costOf(before, after, redis.options.db ?? 0) } : {}),
    };
  } finally {
    await child.stop();
  }
}

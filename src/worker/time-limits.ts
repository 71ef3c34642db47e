import { SoftTimeLimitExceeded, TimeLimitExceeded } from "../errors.js";
import type { Logger } from "../logger.js";
import type { TaskMessage } from "../protocol/task-message.js";
import { MAX_TIME_LIMIT_MS } from "../time-limit-options.js";
import type { TaskDefinition } from "../task.js";
import type { ActiveTask } from "./task-lifecycle.js";

/**
 * Time limits of a running task, as Celery's prefork pool applies them:
 *
 *   soft  the task's signal is aborted with SoftTimeLimitExceeded. A handler that honours its
 *         signal ends with it (FAILURE SoftTimeLimitExceeded, as Python's task raises it); one
 *         that catches it and returns succeeds, as in Python.
 *   hard  the worker stops waiting: the run rejects with TimeLimitExceeded (stored as FAILURE,
 *         the message acked, the slot freed). JavaScript cannot kill a handler as Celery kills
 *         its process: the handler may go on in the background, but its outcome is ignored.
 *
 * Which limits apply, each on its own (Celery's `message or task or worker`): the message's
 * (a call's apply_async(time_limit=)), else the task's, else the worker's (`ebb worker
 * --time-limit`, else the app's timeLimit).
 */
export interface TimeLimits {
  hardMs: number | null;
  softMs: number | null;
}

/** Timer functions, injectable for tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export function limitsFor(
  msg: TaskMessage,
  def: TaskDefinition,
  defaults: { timeLimitMs: number | null; softTimeLimitMs: number | null },
): TimeLimits {
  return {
    hardMs: msg.timeLimitMs ?? def.timeLimitMs ?? defaults.timeLimitMs,
    softMs: msg.softTimeLimitMs ?? def.softTimeLimitMs ?? defaults.softTimeLimitMs,
  };
}

export interface LimitedRunOptions {
  log: Logger;
  /** Called when the hard limit passes, before the run rejects (e.g. to close the task's context). */
  onHardLimit?: (error: TimeLimitExceeded) => void;
  timers?: Timers;
}

/**
 * Run `handler` for `task` under `limits`. Resolves or rejects as the handler does, except that
 * past the hard limit it rejects with TimeLimitExceeded at once, and that an AbortError caused
 * by the soft limit (what `timers/promises`, `events.once` and friends throw for an aborted
 * signal) rejects as the SoftTimeLimitExceeded it carries. Timers are cleared when it settles.
 */
export async function runUnderLimits<T>(
  limits: TimeLimits,
  task: ActiveTask,
  handler: () => T | Promise<T>,
  options: LimitedRunOptions,
): Promise<T> {
  const { log } = options;
  // No limit at all (the default): nothing to arm or clear.
  if (limits.hardMs === null && limits.softMs === null) return Promise.resolve().then(handler);
  const timers = options.timers ?? realTimers;
  const label = `${task.message.task}[${task.message.id}]`;
  const handles: unknown[] = [];
  let soft: SoftTimeLimitExceeded | null = null;
  let settled = false;
  const hardMs = enforceable(limits.hardMs, "hard", label, log);
  const softMs = enforceable(limits.softMs, "soft", label, log);
  // A soft limit at or past the hard one would never be seen before the task is stopped.
  if (softMs !== null && (hardMs === null || softMs < hardMs)) {
    handles.push(
      timers.setTimeout(() => {
        if (settled || task.aborted) return;
        soft = new SoftTimeLimitExceeded(task.message.task, task.message.id, softMs);
        log.warn(`Soft time limit (${softMs / 1000}s) exceeded for ${label}`);
        task.abort(soft);
      }, softMs),
    );
  }
  const own = Promise.resolve()
    .then(handler)
    .catch((error: unknown) => {
      throw soft !== null && causedBy(error, soft) ? soft : error;
    });
  if (hardMs === null) return own.finally(clear);
  const hard = new Promise<never>((_, reject) => {
    handles.push(
      timers.setTimeout(() => {
        if (settled) return;
        const error = new TimeLimitExceeded(task.message.task, task.message.id, hardMs);
        log.error(`Hard time limit (${hardMs / 1000}s) exceeded for ${label}; FAILURE stored, the handler is no longer waited for`);
        options.onHardLimit?.(error);
        if (!task.aborted) task.abort(error);
        reject(error);
        // Whatever the abandoned handler does later is only logged.
        own.then(
          () => log.warn(`${label} returned after its hard time limit; its result is ignored`),
          (late: unknown) => log.warn(`${label} ended after its hard time limit (${describe(late)}); ignored`),
        );
      }, hardMs),
    );
  });
  return Promise.race([own, hard]).finally(clear);

  function clear(): void {
    settled = true;
    for (const h of handles) timers.clearTimeout(h);
  }
}

/** A limit a timer can keep, or null (with a warning) for one from a message beyond that. */
function enforceable(ms: number | null, kind: string, label: string, log: Logger): number | null {
  if (ms === null || ms <= MAX_TIME_LIMIT_MS) return ms;
  log.warn(`The ${kind} time limit of ${label} (${ms / 1000}s) is longer than a timer can keep (24d); it is not enforced`);
  return null;
}

/** The soft limit's own error, or an AbortError raised for it (its cause). */
function causedBy(error: unknown, soft: SoftTimeLimitExceeded): boolean {
  if (error === soft) return true;
  return error instanceof Error && error.name === "AbortError" && error.cause === soft;
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

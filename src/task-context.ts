import { AsyncLocalStorage } from "node:async_hooks";
import { parseDuration, type DurationInput } from "./duration.js";
import { EbbError, RetryRequest } from "./errors.js";
import type { BeatTick } from "./protocol/beat-headers.js";

/**
 * What a running handler can know and decide about itself, reached with currentTask() so a
 * handler's own signature stays the call signature (and .delay() is typed from it).
 */
export interface TaskContext {
  readonly id: string;
  readonly name: string;
  /** How many times this task has been retried so far (0 on the first run). */
  readonly retries: number;
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly queue: string;
  /** True when an earlier delivery of this message was not acknowledged (e.g. a worker died). */
  readonly redelivered: boolean;
  /** Aborted when the worker is shutting down hard. */
  readonly signal: AbortSignal;
  /** For a message beat sent: the entry, the intended tick instant and whether it was a catch-up; null otherwise. */
  readonly beat: BeatTick | null;
  /** Pattern 3, from inside: this result's lifetime, overriding every other rule. null = never. */
  setResultExpires(lifetime: DurationInput): void;
  /** Ask for a retry; throws, so `throw currentTask().retry(...)` or just call it. */
  retry(options?: { countdown?: DurationInput; exc?: unknown; maxRetries?: number }): never;
}

/** The state behind a TaskContext that the worker reads back after the handler returns. */
export interface ContextState {
  dynamicLifetimeMs?: number | null;
  /** Set when the worker stopped waiting for the handler (hard time limit): nothing it asks for now is stored. */
  ended?: Error;
}

const storage = new AsyncLocalStorage<TaskContext>();

export function currentTask(): TaskContext {
  const ctx = storage.getStore();
  if (!ctx) throw new EbbError("CONFIG", "currentTask() was called outside a running task; call it from inside a task handler");
  return ctx;
}

export function runInContext<T>(ctx: TaskContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** What makeContext needs of the running task; `signal` is read only when the handler asks for it. */
export type ContextBase = Pick<TaskContext, "id" | "name" | "retries" | "kwargs" | "queue" | "redelivered" | "beat"> & {
  readonly signal: AbortSignal;
};

/** One object per task, its methods on the prototype: a handler that never asks costs no closures and no signal. */
class RunningContext implements TaskContext {
  readonly id: string;
  readonly name: string;
  readonly retries: number;
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly queue: string;
  readonly redelivered: boolean;
  readonly beat: BeatTick | null;

  constructor(
    private readonly base: ContextBase,
    private readonly state: ContextState,
  ) {
    this.id = base.id;
    this.name = base.name;
    this.retries = base.retries;
    this.kwargs = base.kwargs;
    this.queue = base.queue;
    this.redelivered = base.redelivered;
    this.beat = base.beat;
  }

  get signal(): AbortSignal {
    return this.base.signal;
  }

  setResultExpires(lifetime: DurationInput): void {
    if (this.state.ended) throw this.state.ended;
    this.state.dynamicLifetimeMs = parseDuration(lifetime, { option: "setResultExpires()" });
  }

  retry(options: { countdown?: DurationInput; exc?: unknown; maxRetries?: number } = {}): never {
    if (this.state.ended) throw this.state.ended;
    const countdown =
      options.countdown === undefined
        ? null
        : parseDuration(options.countdown, { option: "retry({ countdown })", allowNever: false, numberUnit: "s" });
    throw new RetryRequest(countdown, options.exc, options.maxRetries);
  }
}

/**
 * The context of one running task. `base.signal` is read when the handler reads
 * currentTask().signal, not before (a getter on base, e.g. the ActiveTask, stays lazy).
 */
export function makeContext(base: ContextBase, state: ContextState): TaskContext {
  return new RunningContext(base, state);
}

import type { Delivery } from "../brokers/broker.js";
import type { StoredResult } from "../backends/result-backend.js";
import type { StoredState } from "../states.js";
import type { Logger } from "../logger.js";
import type { TaskMessage } from "../protocol/task-message.js";

/**
 * What a worker tells the rest of the process about each task it handles: the moments Celery's
 * workers send events for (received, started, succeeded, failed, retried, revoked), and the
 * tasks running now. Remote control (inspect active, revoke with terminate), Celery events and
 * time limits are built on it, each without reaching into the executor.
 *
 * A listener that throws is logged and otherwise ignored: what it does is never the task's fate.
 */
export interface TaskLifecycleEvents {
  /** A task message was received (once per delivery, before any ETA wait). */
  received: [message: TaskMessage, delivery: Delivery];
  /** The handler is about to run. */
  started: [task: ActiveTask];
  /** The handler returned and its outcome was stored. */
  succeeded: [message: TaskMessage, info: { result: unknown; runtimeMs: number }];
  /** The handler threw and FAILURE was stored. */
  failed: [message: TaskMessage, info: { error: unknown; traceback: string | null; runtimeMs: number }];
  /** The handler asked for a retry; RETRY was stored and the retry published. */
  retried: [message: TaskMessage, info: { error: unknown; traceback: string | null; eta: number | null }];
  /** The task was not run, or was stopped, and REVOKED was stored. */
  revoked: [message: TaskMessage, info: { reason: string; expired: boolean; terminated: boolean }];
  /**
   * A state was stored for a task (STARTED, RETRY, or its outcome), and was new: not a ready
   * result kept from an earlier delivery. `replaced` is the state this worker knows the task's
   * result had before (STARTED it stored, or RETRY from a retried message's earlier run), else null.
   */
  stored: [result: StoredResult, replaced: StoredState | null];
}

export type TaskLifecycleEvent = keyof TaskLifecycleEvents;

/** A task whose handler is running now. */
export interface ActiveTask {
  readonly message: TaskMessage;
  readonly delivery: Delivery;
  /** Epoch ms (this process's clock) when the handler started. */
  readonly startedAt: number;
  /** currentTask().signal of this task: aborted by abort(), or by the worker's hard stop. */
  readonly signal: AbortSignal;
  /** Whether the signal is aborted, and why (undefined while it is not), without making the signal. */
  readonly aborted: boolean;
  readonly abortReason: unknown;
  /** Abort this task's signal with a reason (an Error the handler sees as signal.reason). */
  abort(reason: unknown): void;
}

/**
 * An ActiveTask whose AbortController is made only when the handler (or a time limit) asks for
 * the signal: most handlers never do, and a controller, its signal and a listener on the hard
 * stop per task were a twentieth of a busy worker's time. Until then, aborted and abortReason
 * answer from the task's own abort() and from the hard stop.
 */
class RunningTask implements ActiveTask {
  readonly startedAt = Date.now();
  #controller: AbortController | null = null;
  #aborted = false;
  #reason: unknown;
  readonly #onHardStop = (): void => this.abort(this.hardStop.reason);

  constructor(
    readonly message: TaskMessage,
    readonly delivery: Delivery,
    private readonly hardStop: AbortSignal,
  ) {}

  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const controller = new AbortController();
    this.#controller = controller;
    if (!this.#aborted && this.hardStop.aborted) this.abort(this.hardStop.reason);
    if (this.#aborted) controller.abort(this.#reason);
    else this.hardStop.addEventListener("abort", this.#onHardStop, { once: true });
    return controller.signal;
  }

  get aborted(): boolean {
    return this.#aborted || this.hardStop.aborted;
  }

  get abortReason(): unknown {
    if (this.#aborted) return this.#reason;
    return this.hardStop.aborted ? this.hardStop.reason : undefined;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }

  /** The handler has ended: unlink from the hard stop. */
  unlink(): void {
    if (this.#controller) this.hardStop.removeEventListener("abort", this.#onHardStop);
  }
}

type Listener<E extends TaskLifecycleEvent> = (...args: TaskLifecycleEvents[E]) => void;

export class TaskLifecycle {
  // biome-ignore lint/suspicious/noExplicitAny: one set per event; on() and emit() keep each event's own types
  readonly #listeners = new Map<TaskLifecycleEvent, Set<(...args: any[]) => void>>();
  readonly #active = new Map<string, ActiveTask>();
  readonly #announced = new WeakSet<Delivery>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Listen to one kind of moment; returns a function that stops listening. */
  on<E extends TaskLifecycleEvent>(event: E, listener: Listener<E>): () => void {
    const set = this.#listeners.get(event) ?? new Set();
    this.#listeners.set(event, set);
    set.add(listener);
    return () => set.delete(listener);
  }

  emit<E extends TaskLifecycleEvent>(event: E, ...args: TaskLifecycleEvents[E]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        listener(...args);
      } catch (e) {
        this.#log.error(`A listener of task ${event} events failed: ${(e as Error).message}`);
      }
    }
  }

  /** Emit "received" for a delivery the first time only (a message held for its ETA is executed again later). */
  announce(message: TaskMessage, delivery: Delivery): void {
    if (this.#announced.has(delivery)) return;
    this.#announced.add(delivery);
    this.emit("received", message, delivery);
  }

  /** Tasks running now, oldest first. */
  get active(): ActiveTask[] {
    return [...this.#active.values()];
  }

  /** The running task with this id, if any. */
  activeTask(id: string): ActiveTask | undefined {
    return this.#active.get(id);
  }

  /**
   * Register a task as running, with its own signal linked to `hardStop`. Call the returned
   * function when its handler has ended; it unlinks the signal and forgets the task.
   */
  begin(message: TaskMessage, delivery: Delivery, hardStop: AbortSignal): { task: ActiveTask; end: () => void } {
    const task = new RunningTask(message, delivery, hardStop);
    this.#active.set(message.id, task);
    return {
      task,
      end: () => {
        task.unlink();
        if (this.#active.get(message.id) === task) this.#active.delete(message.id);
      },
    };
  }
}

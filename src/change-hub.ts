import { withLinkedSignal } from "./linked-signal.js";

/**
 * In-process wake-ups by topic ("a message may be visible on queue X", "result Y changed").
 *
 * wait() is for loops that look, then wait: a notify between the look and the wait is missed,
 * so callers use it only with a bounded wait (brokers' fetch). watch() is for result readers:
 * a watch remembers a notify that arrives while nobody is waiting, so "look, then wait" never
 * misses a change that happened in between.
 */
export interface Watch {
  /** Resolve at once if the topic changed since the watch started (or since the last call), else on change, after ms, or on abort. */
  changed(ms: number, signal?: AbortSignal): Promise<void>;
  close(): void;
}

export class ChangeHub {
  readonly #listeners = new Map<string, Set<() => void>>();

  notify(topic: string): void {
    const set = this.#listeners.get(topic);
    if (set) for (const listener of [...set]) listener();
  }

  notifyAll(): void {
    for (const topic of [...this.#listeners.keys()]) this.notify(topic);
  }

  /** Resolve on notify(topic), after ms, or as soon as any of the signals aborts. Never rejects. */
  wait(topic: string, ms: number, signals: readonly (AbortSignal | undefined)[] = []): Promise<void> {
    const watch = this.watch(topic);
    return withLinkedSignal(signals, (signal) => watch.changed(ms, signal)).finally(() => watch.close());
  }

  watch(topic: string): Watch {
    let dirty = false;
    let wake: (() => void) | null = null;
    const listener = () => {
      if (wake) wake();
      else dirty = true;
    };
    this.#on(topic, listener);
    return {
      changed: (ms, signal) => {
        if (dirty || signal?.aborted) {
          dirty = false;
          return Promise.resolve();
        }
        return sleepUntil(ms, signal, (w) => (wake = w)).finally(() => {
          wake = null;
        });
      },
      close: () => this.#off(topic, listener),
    };
  }

  #on(topic: string, listener: () => void): void {
    let set = this.#listeners.get(topic);
    if (!set) {
      set = new Set();
      this.#listeners.set(topic, set);
    }
    set.add(listener);
  }

  #off(topic: string, listener: () => void): void {
    const set = this.#listeners.get(topic);
    if (!set) return;
    set.delete(listener);
    if (set.size === 0) this.#listeners.delete(topic);
  }
}

/** Sleep for ms, ending early on abort or when the registered waker is called. Never rejects. */
export function sleepUntil(
  ms: number,
  signal: AbortSignal | undefined,
  register: (wake: () => void) => void = () => undefined,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
    register(done);
  });
}

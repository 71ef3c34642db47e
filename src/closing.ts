import { withLinkedSignal } from "./linked-signal.js";

/**
 * A store's "I am closing" switch, for stores on which any number of waits are pending at once
 * (every result.get() watches). Instead of one abort listener per pending wait on a long-lived
 * signal (and setMaxListeners(0) to hide the warning), it keeps the pending waits in a set and
 * aborts them itself: a wait leaves the set when it ends, so nothing is left behind.
 */
export class Closing {
  readonly #pending = new Set<AbortController>();
  #closed = false;

  get closed(): boolean {
    return this.#closed;
  }

  /** Abort every pending wait, and every later one at once. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const wait of [...this.#pending]) wait.abort();
    this.#pending.clear();
  }

  /** Run `wait` with a signal that aborts on close() or when `signal` aborts; nothing stays attached to `signal` after. */
  during<T>(signal: AbortSignal | undefined, wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const own = new AbortController();
    if (this.#closed) own.abort();
    else this.#pending.add(own);
    return withLinkedSignal([own.signal, signal], (linked) => wait(linked!)).finally(() => this.#pending.delete(own));
  }
}

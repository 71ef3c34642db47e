/**
 * Celery's logical clock (kombu.clocks.LamportClock): every event a process sends carries the
 * next value, so monitors can order events from one sender when their timestamps tie or drift.
 * adjust() is how a process catches up with a value it has seen from another.
 */
export class LamportClock {
  #value: number;

  constructor(initial = 0) {
    this.#value = initial;
  }

  get value(): number {
    return this.#value;
  }

  /** The next value, for an event being sent now. */
  forward(): number {
    this.#value += 1;
    return this.#value;
  }

  /** Catch up with a value received from elsewhere: max(own, other) + 1, as kombu does. */
  adjust(other: number): number {
    this.#value = Math.max(this.#value, other) + 1;
    return this.#value;
  }
}

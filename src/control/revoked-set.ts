import { systemClock, type Clock } from "../clock.js";

/** Celery's REVOKES_MAX (celery/worker/state.py): at most this many revoked ids are kept. */
export const REVOKED_MAX = 50_000;
/** Celery's REVOKE_EXPIRES: a revoke is honoured for this long (3 hours). */
export const REVOKED_EXPIRES_MS = 10_800_000;

export interface RevokedSetOptions {
  /** At most this many ids; adding one more forgets the oldest at once. Default REVOKED_MAX. */
  maxSize?: number;
  /** An id is forgotten this long after it was (last) revoked. Default REVOKED_EXPIRES_MS. */
  expiresMs?: number;
  clock?: Clock;
}

/**
 * The ids a worker was told to revoke, bounded as Celery's worker bounds its LimitedSet: at most
 * maxSize ids (the oldest go first) and each for expiresMs. Celery drops expired ids only once
 * the set is full; here an id stops counting as revoked as soon as it expires, so what the set
 * answers never depends on how full it is.
 */
export class RevokedSet {
  readonly maxSize: number;
  readonly expiresMs: number;
  readonly #clock: Clock;
  /** id → when it was revoked; Map order is insertion order, so the oldest comes first. */
  readonly #ids = new Map<string, number>();

  constructor(options: RevokedSetOptions = {}) {
    this.maxSize = options.maxSize ?? REVOKED_MAX;
    this.expiresMs = options.expiresMs ?? REVOKED_EXPIRES_MS;
    if (!Number.isInteger(this.maxSize) || this.maxSize < 1)
      throw new RangeError(`Expected the revoked set's maxSize to be an integer >= 1, got ${this.maxSize}`);
    if (!(this.expiresMs > 0)) throw new RangeError(`Expected the revoked set's expiresMs to be a number > 0, got ${this.expiresMs}`);
    this.#clock = options.clock ?? systemClock;
  }

  /** Revoke ids (again: a second revoke restarts its time). `at` defaults to now. */
  add(ids: Iterable<string>, at: number = this.#clock()): void {
    for (const id of ids) {
      this.#ids.delete(id);
      this.#ids.set(id, at);
    }
    this.purge();
  }

  has(id: string): boolean {
    const at = this.#ids.get(id);
    return at !== undefined && at + this.expiresMs > this.#clock();
  }

  /** The ids revoked now, oldest first. */
  ids(): string[] {
    this.purge();
    return [...this.#ids.keys()];
  }

  get size(): number {
    this.purge();
    return this.#ids.size;
  }

  /** Forget expired ids and, beyond maxSize, the oldest. */
  purge(): void {
    const now = this.#clock();
    for (const [id, at] of this.#ids) {
      if (this.#ids.size <= this.maxSize && at + this.expiresMs > now) break;
      this.#ids.delete(id);
    }
  }
}

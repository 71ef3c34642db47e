import type { Census } from "../monitor/census.js";
import type { RemovedResult } from "../retention/retention-observer.js";
import type { StoredState } from "../states.js";

const HOUR = 3_600_000;

interface Cell {
  tier: string;
  state: StoredState;
  count: number;
  bytes: number;
}

/**
 * The last Census, adjusted by what this process writes and removes until the next one replaces
 * it: what the `ebb_` gauges read, so a scrape never scans the store. Counts are those of the
 * census's instant (`at`, store clock), moved by each write and removal; ages are computed when
 * read, from the stored instants and the time elapsed here since the census arrived.
 *
 * A write whose size the writer does not know (a worker's results) adds the mean size of its
 * cell in the census (else the store's mean), so bytes do not drift down between censuses while
 * removals subtract real sizes.
 */
export class CensusView {
  #census: Census | null = null;
  /** This process's clock when the census arrived. */
  #receivedAt = 0;
  readonly #cells = new Map<string, Map<StoredState, Cell>>();
  #pending = 0;
  #oldestPendingExpiry: number | null = null;
  #oldestDateDone: number | null = null;
  #expiring = { hour: 0, day: 0, week: 0 };
  #meanBytes = 0;

  constructor(private readonly now: () => number) {}

  get known(): boolean {
    return this.#census !== null;
  }

  set(census: Census | null): void {
    this.#census = census;
    this.#receivedAt = this.now();
    this.#cells.clear();
    if (!census) return;
    for (const c of census.cells) {
      const cell = this.#cell(c.tier, c.state);
      cell.count = c.count;
      cell.bytes = c.bytes;
    }
    this.#pending = census.expiredPending;
    this.#oldestPendingExpiry = census.oldestPendingExpiry;
    this.#oldestDateDone = census.oldestDateDone;
    this.#expiring = { ...census.expiring };
    this.#meanBytes = census.total > 0 ? census.bytes / census.total : 0;
  }

  /** A result stored by this process; `replaces`: the state the same result had before (moved, not added). */
  written(
    tier: string,
    state: StoredState,
    bytes: number | undefined,
    expiresAt: number | null | undefined,
    replaces: StoredState | null,
  ): void {
    const census = this.#census;
    if (!census) return;
    const cell = this.#cell(tier, state);
    let size = bytes ?? this.#mean(cell);
    if (replaces !== null) {
      const old = this.#cell(tier, replaces);
      const oldSize = this.#mean(old);
      if (bytes === undefined && cell.count === 0) size = oldSize;
      if (old.count > 0) {
        old.count -= 1;
        old.bytes = Math.max(0, old.bytes - oldSize);
      }
    } else if (expiresAt !== null && expiresAt !== undefined) {
      this.#moveExpiring(expiresAt - census.at, 1);
    }
    cell.count += 1;
    cell.bytes += size;
  }

  /** Results removed from the store (cleanup, archive --delete). */
  removed(results: readonly RemovedResult[]): void {
    const census = this.#census;
    if (!census) return;
    for (const r of results) {
      const cell = this.#cell(r.tier ?? "none", r.status);
      const size = r.bytes > 0 ? r.bytes : this.#mean(cell);
      if (cell.count > 0) {
        cell.count -= 1;
        cell.bytes = Math.max(0, cell.bytes - size);
      }
      if (r.held || r.expiresAt === null) continue;
      const ahead = r.expiresAt - census.at;
      if (ahead <= 0) this.#lessPending(1);
      else this.#moveExpiring(ahead, -1);
    }
    if (this.#total() === 0) this.#oldestDateDone = null;
  }

  /** Expired results a store dropped at once (no per-result detail: only the backlog moves). */
  droppedExpired(count: number): void {
    if (this.#census) this.#lessPending(count);
  }

  cells(): Cell[] {
    const out: Cell[] = [];
    for (const byState of this.#cells.values()) for (const c of byState.values()) out.push(c);
    return out;
  }

  get expiredPending(): number | null {
    return this.#census ? this.#pending : null;
  }

  get expiring(): { hour: number; day: number; week: number } | null {
    return this.#census ? this.#expiring : null;
  }

  /** The store's clock now, estimated: the census's instant plus the time elapsed here since. */
  storeNow(): number | null {
    return this.#census ? this.#census.at + (this.now() - this.#receivedAt) : null;
  }

  /** Seconds since the oldest result was done; null without a census or results. */
  oldestResultAgeSeconds(): number | null {
    const now = this.storeNow();
    return now === null || this.#oldestDateDone === null ? null : Math.max(0, (now - this.#oldestDateDone) / 1000);
  }

  /** Seconds since the oldest expired, not yet removed result expired; 0 with no backlog; null without a census. */
  oldestPendingAgeSeconds(): number | null {
    const now = this.storeNow();
    if (now === null) return null;
    return this.#oldestPendingExpiry === null ? 0 : Math.max(0, (now - this.#oldestPendingExpiry) / 1000);
  }

  #lessPending(count: number): void {
    this.#pending = Math.max(0, this.#pending - count);
    if (this.#pending === 0) this.#oldestPendingExpiry = null;
  }

  #moveExpiring(aheadMs: number, delta: number): void {
    const e = this.#expiring;
    const h = Math.floor((aheadMs - 1) / HOUR);
    if (h < 1) e.hour = Math.max(0, e.hour + delta);
    if (h < 24) e.day = Math.max(0, e.day + delta);
    if (h < 7 * 24) e.week = Math.max(0, e.week + delta);
  }

  #mean(cell: Cell): number {
    return cell.count > 0 ? cell.bytes / cell.count : this.#meanBytes;
  }

  #total(): number {
    let n = 0;
    for (const byState of this.#cells.values()) for (const c of byState.values()) n += c.count;
    return n;
  }

  #cell(tier: string, state: StoredState): Cell {
    let byState = this.#cells.get(tier);
    if (!byState) {
      byState = new Map();
      this.#cells.set(tier, byState);
    }
    let cell = byState.get(state);
    if (!cell) {
      cell = { tier, state, count: 0, bytes: 0 };
      byState.set(state, cell);
    }
    return cell;
  }
}

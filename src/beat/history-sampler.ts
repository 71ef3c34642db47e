import type { Logger } from "../logger.js";
import { formatDuration } from "../duration.js";
import type { Census } from "../monitor/census.js";
import { sampleOf, type StorageSample } from "../monitor/history.js";
import type { ScheduleStore } from "./schedule-store.js";

/** What beat needs to keep the storage history (the app option `history`). */
export interface BeatHistory {
  /** One sample per slot of this many ms. */
  everyMs: number;
  /** Samples older than this (ms) are dropped as new ones are added. */
  keepMs: number;
  /** Count the result store: census() on the app's retention store. */
  census(): Promise<Census>;
}

/** After a failed sample, the next try waits this long at most (or one slot, if shorter). */
const RETRY_MS = 60_000;

/**
 * Beat's storage history: once per slot, one census of the result store, kept as a sample in the
 * schedule store. Any number of beats may run it: each first asks the store for the newest sample
 * (and remembers its slot, so it asks once per slot), and addSample() takes the slot atomically,
 * so two beats that both count store one sample. One sample at a time per beat; a failure is
 * logged once until it works again, and never thrown.
 */
export class HistorySampler {
  /** The newest slot known to have a sample. */
  #knownSlot = Number.NEGATIVE_INFINITY;
  #retryAt = Number.NEGATIVE_INFINITY;
  #failing = false;
  #running: Promise<StorageSample | null> | null = null;

  constructor(
    private readonly history: BeatHistory,
    private readonly store: ScheduleStore,
    private readonly log: Logger,
  ) {}

  /** What the start-up line says. */
  describe(): string {
    return `a storage sample every ${formatDuration(this.history.everyMs)}, kept ${formatDuration(this.history.keepMs)}`;
  }

  /**
   * Record a sample if the slot of `now` (store clock) has none yet. Resolves with the sample this
   * call stored, or null (not due, another beat stored it, or it failed). While one runs, a second
   * call gets the same promise.
   */
  run(now: number): Promise<StorageSample | null> {
    this.#running ??= this.#record(now).finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  /** The sample in progress, if any (stop() waits for it). */
  get running(): Promise<StorageSample | null> | null {
    return this.#running;
  }

  async #record(now: number): Promise<StorageSample | null> {
    const { everyMs, keepMs } = this.history;
    const slot = Math.floor(now / everyMs);
    if (slot <= this.#knownSlot || now < this.#retryAt) return null;
    try {
      const latest = await this.store.latestSampleAt();
      if (latest !== null) this.#knownSlot = Math.max(this.#knownSlot, Math.floor(latest / everyMs));
      let stored: StorageSample | null = null;
      if (slot > this.#knownSlot) {
        const sample = sampleOf(await this.history.census());
        if (await this.store.addSample(sample, { slotMs: everyMs, keepMs })) stored = sample;
        // This slot was tried (a census stamped by a clock behind beat's own is not retried every pass).
        this.#knownSlot = Math.max(this.#knownSlot, slot, Math.floor(sample.at / everyMs));
      }
      if (this.#failing) this.log.info("Beat: recording the storage history works again");
      this.#failing = false;
      return stored;
    } catch (e) {
      this.#retryAt = now + Math.min(everyMs, RETRY_MS);
      if (!this.#failing)
        this.log.error(
          `Beat: recording the storage history failed: ${(e as Error).message}; beat tries again by itself (ticks are not affected), and this is not logged again until it works`,
        );
      this.#failing = true;
      return null;
    }
  }
}

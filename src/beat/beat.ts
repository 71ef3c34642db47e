import type { Broker } from "../brokers/broker.js";
import type { Logger } from "../logger.js";
import { parseStoredMessage } from "../brokers/stored-message.js";
import type { StorageSample } from "../monitor/history.js";
import type { ResolvedEntry } from "./entry.js";
import { HistorySampler, type BeatHistory } from "./history-sampler.js";
import { planEntry, planTicks, type EntryPlan, type PlannedFire } from "./plan.js";
import { fireKey, type EntryState, type FireClaim, type OutboxMessage, type ScheduleStore } from "./schedule-store.js";

export interface BeatDeps {
  entries: readonly ResolvedEntry[];
  store: ScheduleStore;
  broker: Pick<Broker, "publish" | "publishOnce" | "capabilities" | "url">;
  /** Build the message one fire sends (the app's buildCall plus the beat headers). `now` is the store's clock. */
  message(entry: ResolvedEntry, fire: PlannedFire, now: number): { taskId: string; message: OutboxMessage };
  log: Logger;
  /** The storage history to keep (the app option `history`); absent or null: none. */
  history?: BeatHistory | null;
}

export interface BeatOptions {
  /** Longest wait between two looks at the store (so fires left unsent by a dead beat are picked up). Default 5000. */
  maxSleepMs?: number;
  /** A fire claimed but not confirmed sent for this long is sent again by any beat, under the same key. Default 5000. */
  resendAfterMs?: number;
  /** Unsent fires claimed longer ago than this are left alone (and stay visible in the history as unsent). Default 30 min. */
  resendWithinMs?: number;
  /** Fires kept per entry. Default 1000. */
  historyLimit?: number;
  /** Waits between looks; injected by tests. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** What time it is for deciding what is due. Default: the store's clock, which every beat shares; tests inject a manual one. */
  now?: () => number | Promise<number>;
}

export interface TickReport {
  /** Fires sent by this pass (not counting resends). */
  sent: Array<{ entry: string; tick: number; taskId: string; catchUp: boolean }>;
  resent: number;
  /** When this beat looks next (store clock), or null when no entry has another tick. */
  nextCheckAt: number | null;
  /** How long it would sleep. */
  sleepMs: number;
}

const DEFAULT_MAX_SLEEP_MS = 5_000;
const CLAIM_ATTEMPTS = 4;
const RESEND_BATCH = 100;

/**
 * The scheduler loop. Leaderless: every beat process runs the same loop against the same store,
 * and each tick of each entry is claimed there before its message is sent, so any number of
 * beats send each tick exactly once, and a beat that dies needs no failover. What is due is
 * decided by the store's clock, so beats on hosts with skewed clocks agree.
 *
 *   look:   read the entries' states, plan (plan.ts) with the store's now
 *   claim:  one atomic claim per due entry, applied only if the state is still the one planned
 *           from (else plan again from what the store returned)
 *   send:   publish each claimed fire under its key (publishOnce), then mark it sent
 *   resend: fires claimed but never confirmed (their beat died between claim and send) are sent
 *           again under the same key, which the broker dedupes
 *   sleep:  until the next tick, at most maxSleepMs
 *
 * Beside the loop, never in its way: once per history slot, a census of the result store kept as
 * a sample in the store (history-sampler.ts), one at a time, started after a pass and not awaited.
 */
export class Beat {
  readonly #deps: BeatDeps;
  readonly #maxSleepMs: number;
  readonly #resendAfterMs: number;
  readonly #resendWithinMs: number;
  readonly #historyLimit: number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #now: () => Promise<number>;
  readonly #stopping = new AbortController();
  readonly #byName: Map<string, ResolvedEntry>;
  readonly #history: HistorySampler | null;
  #running: Promise<void> | null = null;
  #warnedNoDedupe = false;
  /** When this beat last looked for unsent fires: the sweep runs once per resendAfterMs, not on every pass. */
  #sweptAt = -Infinity;

  constructor(deps: BeatDeps, options: BeatOptions = {}) {
    this.#deps = deps;
    this.#maxSleepMs = options.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS;
    this.#resendAfterMs = options.resendAfterMs ?? 5_000;
    this.#resendWithinMs = options.resendWithinMs ?? 30 * 60_000;
    this.#historyLimit = options.historyLimit ?? 1_000;
    this.#sleep = options.sleep ?? sleep;
    const now = options.now;
    this.#now = now ? async () => now() : () => deps.store.now();
    this.#byName = new Map(deps.entries.map((e) => [e.name, e]));
    this.#history = deps.history ? new HistorySampler(deps.history, deps.store, deps.log) : null;
  }

  /** Run until stop(); resolves when stopped. Calling it twice returns the same promise. */
  start(): Promise<void> {
    this.#running ??= this.#run();
    return this.#running;
  }

  /** Finish the pass in progress (a claimed tick is still sent) and the history sample in progress, then stop. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await (this.#running ?? Promise.resolve());
    await this.#history?.running;
  }

  /**
   * Record a storage-history sample if the current slot (by this beat's clock) has none yet.
   * Resolves with the sample this beat stored, or null: not due, another beat stored it, history
   * is off, or it failed (logged once, never thrown). The loop runs it by itself after each pass.
   */
  async sampleHistory(): Promise<StorageSample | null> {
    if (!this.#history) return null;
    let now: number;
    try {
      now = await this.#now();
    } catch {
      return null; // the store is down: the loop's own look says so
    }
    return this.#history.run(now);
  }

  /** One pass: claim and send what is due, resend what a dead beat left unsent. */
  async tick(): Promise<TickReport> {
    const { store } = this.#deps;
    const now = await this.#now();
    const states = await store.states([...this.#byName.keys()]);
    const plan = planTicks(this.#deps.entries, states, now);
    const report: TickReport = { sent: [], resent: 0, nextCheckAt: plan.nextCheckAt, sleepMs: 0 };
    for (const p of plan.due) await this.#claimAndSend(p, report);
    report.resent = await this.#resend(now);
    const after = await this.#now();
    report.sleepMs = Math.max(0, Math.min(this.#maxSleepMs, (plan.nextCheckAt ?? Infinity) - after));
    return report;
  }

  async #run(): Promise<void> {
    const { log, entries } = this.#deps;
    log.info(
      `Beat: ${entries.length} entr${entries.length === 1 ? "y" : "ies"} (${entries.map((e) => `${e.name} ${e.schedule}`).join("; ")}); ticks are claimed in the store, so other beats may run too${this.#history ? `; ${this.#history.describe()}` : ""}`,
    );
    let backoffMs = 0;
    while (!this.#stopping.signal.aborted) {
      let waitMs: number;
      try {
        waitMs = (await this.tick()).sleepMs;
        backoffMs = 0;
      } catch (e) {
        backoffMs = Math.min(30_000, backoffMs === 0 ? 500 : backoffMs * 2);
        log.error(
          `Beat: the schedule store failed: ${(e as Error).message}; trying again in ${backoffMs} ms (no tick is lost: missed ticks follow each entry's catch-up policy)`,
        );
        waitMs = backoffMs;
      }
      // Not awaited: a census of a large store takes seconds, and ticks must not wait for it.
      if (this.#history && !this.#stopping.signal.aborted) void this.sampleHistory();
      await this.#sleep(waitMs, this.#stopping.signal);
    }
    log.info("Beat stopped");
  }

  async #claimAndSend(first: EntryPlan, report: TickReport): Promise<void> {
    const { store, log } = this.#deps;
    const entry = this.#byName.get(first.entry)!;
    let plan: EntryPlan | null = first;
    for (let attempt = 0; plan !== null && attempt < CLAIM_ATTEMPTS; attempt++) {
      const now = await this.#now();
      const fires: FireClaim[] = plan.fires.map((f) => ({ ...f, ...this.#deps.message(entry, f, now) }));
      const outcome = await store.claim({
        entry: plan.entry,
        expect: plan.expect,
        schedule: plan.schedule,
        lastTick: plan.lastTick,
        nextTick: plan.nextTick,
        fires,
        missed: plan.missed,
        historyLimit: this.#historyLimit,
        claimTtlMs: this.#resendWithinMs * 2,
      });
      if (outcome.ok) {
        if (plan.missed > 0) {
          log.warn(
            `Beat: ${plan.entry} missed ${plan.missed} tick(s) while no beat could send them; catch-up policy ${entry.catchUp.kind}${fires.some((f) => f.catchUp) ? ` sent ${fires.filter((f) => f.catchUp).length} of them` : ""}`,
          );
        }
        for (const f of fires) {
          if (await this.#send(plan.entry, f)) report.sent.push({ entry: plan.entry, tick: f.tick, taskId: f.taskId, catchUp: f.catchUp });
        }
        return;
      }
      // Another beat moved the entry first: plan again from what it left.
      plan = planEntry(entry, stateOf(outcome.state), await this.#now());
    }
  }

  /** Publish one claimed fire and confirm it. On failure it stays unsent, and a later pass (of any beat) sends it. */
  async #send(entry: string, fire: FireClaim & { message: OutboxMessage }): Promise<boolean> {
    const { broker, store, log } = this.#deps;
    const m = fire.message;
    const options = { queue: m.queue, priority: m.priority, availableAt: m.availableAt };
    try {
      const message = parseStoredMessage(m.raw);
      if (broker.publishOnce && broker.capabilities.dedupedPublish)
        await broker.publishOnce(fireKey(entry, fire.tick), message, options, this.#resendWithinMs * 2);
      else await broker.publish(message, options);
      await store.markSent(entry, fire.tick);
      log.info(`Beat: sent ${entry} tick ${new Date(fire.tick).toISOString()} as task ${fire.taskId}${fire.catchUp ? " (catch-up)" : ""}`);
      return true;
    } catch (e) {
      log.error(
        `Beat: sending ${entry} tick ${new Date(fire.tick).toISOString()} failed: ${(e as Error).message}; it will be sent again in about ${Math.round(this.#resendAfterMs / 1000)}s`,
      );
      return false;
    }
  }

  async #resend(now: number): Promise<number> {
    const { store, broker, log } = this.#deps;
    if (now - this.#sweptAt < this.#resendAfterMs) return 0;
    this.#sweptAt = now;
    const stale = await store.unsent(now - this.#resendWithinMs, now - this.#resendAfterMs, RESEND_BATCH);
    if (stale.length === 0) return 0;
    if (!broker.capabilities.dedupedPublish) {
      // Without publishOnce a resend could run the tick twice; say so once and leave them be.
      if (!this.#warnedNoDedupe)
        log.warn(
          `Beat: ${stale.length} claimed tick(s) were never confirmed sent, and the broker ${broker.url} cannot dedupe a resend; they are left as they are (see ebb inspect beat)`,
        );
      this.#warnedNoDedupe = true;
      return 0;
    }
    let resent = 0;
    for (const f of stale) {
      log.warn(
        `Beat: ${f.entry} tick ${new Date(f.tick).toISOString()} was claimed but never confirmed sent (its beat stopped); sending it now under the same key`,
      );
      if (await this.#send(f.entry, f)) resent++;
    }
    return resent;
  }
}

function stateOf(state: EntryState | null): { lastTick: number; schedule: string } | null {
  return state && { lastTick: state.lastTick, schedule: state.schedule };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

import type { Clock } from "../../clock.js";
import { copySample, type StorageSample } from "../../monitor/history.js";
import {
  HISTORY_TRIM_BATCH,
  RUNS_KEPT,
  fireRecordOf,
  sampleSlot,
  outboxOf,
  type ClaimOutcome,
  type ClaimRequest,
  type CleanupRunRecord,
  type EntryState,
  type FireRecord,
  type OutboxMessage,
  type SampleOptions,
  type ScheduleStore,
} from "../../beat/schedule-store.js";

interface StoredFire extends FireRecord {
  message: OutboxMessage | null;
}

/**
 * Beat's state in process memory (tests and single-process apps). Everything is copied in and
 * out, so callers never share objects with the store; claim() runs without an await, so it is
 * atomic within the process.
 */
export class MemoryScheduleStore implements ScheduleStore {
  private readonly entries = new Map<string, EntryState>();
  /** entry → tick → fire, insertion order = tick order. */
  private readonly fires = new Map<string, Map<number, StoredFire>>();
  private readonly cleanupRuns: CleanupRunRecord[] = [];
  /** Storage history: slot → sample. */
  private readonly samplesBySlot = new Map<number, StorageSample>();

  constructor(private readonly clock: Clock) {}

  async now(): Promise<number> {
    return this.clock();
  }

  async states(entries: readonly string[]): Promise<Map<string, EntryState>> {
    const out = new Map<string, EntryState>();
    for (const name of entries) {
      const s = this.entries.get(name);
      if (s) out.set(name, structuredClone(s));
    }
    return out;
  }

  async claim(req: ClaimRequest): Promise<ClaimOutcome> {
    const current = this.entries.get(req.entry) ?? null;
    const matches =
      req.expect === null
        ? current === null
        : current !== null && current.lastTick === req.expect.lastTick && current.schedule === req.expect.schedule;
    const fires = this.fires.get(req.entry) ?? new Map<number, StoredFire>();
    if (!matches || req.fires.some((f) => fires.has(f.tick))) return { ok: false, state: current && structuredClone(current) };
    const now = this.clock();
    let lastFire = current?.lastFire ?? null;
    for (const f of req.fires) {
      const record: StoredFire = {
        entry: req.entry,
        tick: f.tick,
        taskId: f.taskId,
        catchUp: f.catchUp,
        claimedAt: now,
        sentAt: null,
        message: outboxOf(f.message),
      };
      fires.set(f.tick, record);
      lastFire = fireRecordOf(record);
    }
    while (fires.size > req.historyLimit) fires.delete(fires.keys().next().value!);
    this.fires.set(req.entry, fires);
    this.entries.set(req.entry, {
      entry: req.entry,
      schedule: req.schedule,
      lastTick: req.lastTick,
      nextTick: req.nextTick,
      fired: (current?.fired ?? 0) + req.fires.length,
      missed: (current?.missed ?? 0) + req.missed,
      catchUps: (current?.catchUps ?? 0) + req.fires.filter((f) => f.catchUp).length,
      lastFire,
    });
    return { ok: true, claimedAt: now };
  }

  async markSent(entry: string, tick: number): Promise<boolean> {
    const fire = this.fires.get(entry)?.get(tick);
    if (!fire || fire.sentAt !== null) return false;
    fire.sentAt = this.clock();
    fire.message = null;
    const state = this.entries.get(entry);
    if (state?.lastFire?.tick === tick) state.lastFire = fireRecordOf(fire);
    return true;
  }

  async unsent(claimedFrom: number, claimedTo: number, limit: number): Promise<Array<FireRecord & { message: OutboxMessage }>> {
    const out: Array<FireRecord & { message: OutboxMessage }> = [];
    for (const fires of this.fires.values()) {
      for (const f of fires.values()) {
        if (f.sentAt === null && f.message !== null && f.claimedAt >= claimedFrom && f.claimedAt <= claimedTo)
          out.push({ ...fireRecordOf(f), message: outboxOf(f.message) });
      }
    }
    return out.sort((a, b) => a.claimedAt - b.claimedAt || a.tick - b.tick).slice(0, limit);
  }

  async history(entry: string, limit: number): Promise<FireRecord[]> {
    return [...(this.fires.get(entry)?.values() ?? [])].reverse().slice(0, limit).map(fireRecordOf);
  }

  async recordRun(run: CleanupRunRecord): Promise<void> {
    this.cleanupRuns.unshift(structuredClone(run));
    this.cleanupRuns.length = Math.min(this.cleanupRuns.length, RUNS_KEPT);
  }

  async runs(limit: number): Promise<CleanupRunRecord[]> {
    return this.cleanupRuns.slice(0, limit).map((r) => structuredClone(r));
  }

  async addSample(sample: StorageSample, options: SampleOptions): Promise<boolean> {
    const slot = sampleSlot(sample.at, options);
    const cutoff = sample.at - options.keepMs;
    let dropped = 0;
    for (const [key, s] of this.samplesBySlot) {
      if (dropped >= HISTORY_TRIM_BATCH) break;
      if (s.at < cutoff && this.samplesBySlot.delete(key)) dropped++;
    }
    if (this.samplesBySlot.has(slot)) return false;
    this.samplesBySlot.set(slot, copySample(sample));
    return true;
  }

  async latestSampleAt(): Promise<number | null> {
    let latest: number | null = null;
    for (const s of this.samplesBySlot.values()) if (latest === null || s.at > latest) latest = s.at;
    return latest;
  }

  async samples(since: number, limit: number): Promise<StorageSample[]> {
    return [...this.samplesBySlot.values()]
      .filter((s) => s.at >= since)
      .sort((a, b) => a.at - b.at)
      .slice(0, Math.max(0, limit))
      .map(copySample);
  }
}

import type { TickSource } from "./schedules.js";

/**
 * Beat's pure core, in the spirit of Celery's is_due() and tick(): given the entries, what the
 * store says about each (its last tick), and now, it answers which ticks are due and when to
 * look next. No I/O and no clock of its own: tests drive it with any `now`.
 *
 * A tick T is ON TIME while now < T + min(time to the next tick, ON_TIME_WINDOW_MS); after that
 * it was MISSED (no beat was running, or beat was stalled). Only the newest due tick can be on
 * time. Missed ticks follow the entry's catch-up policy:
 *   latest            one run, for the most recent missed tick (the default)
 *   skip              none
 *   all {within,max}  each missed tick no older than `within`, at most the `max` most recent
 * so a beat that was down never sends a burst beyond what the policy allows. Ticks passed over
 * are counted as missed.
 */
export const ON_TIME_WINDOW_MS = 60_000;
/** Missed ticks are counted one by one up to this many per plan (a long outage of a per-minute crontab). */
export const MISSED_COUNT_CAP = 10_000;

export type CatchUpPolicy = { kind: "latest" } | { kind: "skip" } | { kind: "all"; withinMs: number | null; max: number };

export interface PlanEntry {
  name: string;
  ticks: TickSource;
  catchUp: CatchUpPolicy;
}

/** What the store holds for an entry, as far as planning goes. */
export interface PlanState {
  lastTick: number;
  schedule: string;
}

export interface PlannedFire {
  tick: number;
  catchUp: boolean;
}

export interface EntryPlan {
  entry: string;
  /** The state this plan was made from; the claim applies only if the store still has it. */
  expect: PlanState | null;
  schedule: string;
  /** Ticks to send, oldest first. Empty for a plan that only starts the entry or moves past missed ticks. */
  fires: PlannedFire[];
  missed: number;
  lastTick: number;
  nextTick: number | null;
}

export interface TickPlan {
  /** Plans to claim: entries with ticks due, and entries the store does not know yet (or whose schedule changed). */
  due: EntryPlan[];
  /** When the next tick of any entry falls (epoch ms); null when no entry has another tick. */
  nextCheckAt: number | null;
}

/** Plan every entry. */
export function planTicks(entries: readonly PlanEntry[], states: ReadonlyMap<string, PlanState>, now: number): TickPlan {
  const due: EntryPlan[] = [];
  let nextCheckAt: number | null = null;
  for (const entry of entries) {
    const state = states.get(entry.name) ?? null;
    const plan = planEntry(entry, state, now);
    const next = plan ? plan.nextTick : entry.ticks.next(state!.lastTick);
    if (plan) due.push(plan);
    if (next !== null) nextCheckAt = nextCheckAt === null ? next : Math.min(nextCheckAt, next);
  }
  return { due, nextCheckAt };
}

/** One entry's plan, or null when nothing is due and the store already knows the entry. */
export function planEntry(entry: PlanEntry, state: PlanState | null, now: number): EntryPlan | null {
  const { ticks } = entry;
  const schedule = ticks.fingerprint;
  if (state === null || state.schedule !== schedule) {
    // First sight of the entry (or of its new schedule): start from now. Ticks from before it
    // existed were never owed, so nothing is fired or counted missed.
    const since = ticks.previous(now) ?? now;
    const lastTick = state === null ? since : Math.max(state.lastTick, since);
    return { entry: entry.name, expect: state, schedule, fires: [], missed: 0, lastTick, nextTick: ticks.next(lastTick) };
  }
  const first = ticks.next(state.lastTick);
  if (first === null || first > now) return null;
  const newest = ticks.previous(now)!;
  const after = ticks.next(newest);
  const window = Math.min(after === null ? Infinity : after - newest, ON_TIME_WINDOW_MS);
  const onTime = now < newest + window;
  const late = ticks.count(state.lastTick, newest, MISSED_COUNT_CAP) - (onTime ? 1 : 0);
  const catchUps = late > 0 ? catchUpTicks(entry, state.lastTick, newest, onTime, now) : [];
  const fires: PlannedFire[] = catchUps.map((tick) => ({ tick, catchUp: true }));
  if (onTime) fires.push({ tick: newest, catchUp: false });
  return {
    entry: entry.name,
    expect: state,
    schedule,
    fires,
    missed: Math.max(0, late - catchUps.length),
    lastTick: newest,
    nextTick: after,
  };
}

/** The missed ticks the policy sends, oldest first. Missed ticks are those in (lastTick, newest], less newest when it is on time. */
function catchUpTicks(entry: PlanEntry, lastTick: number, newest: number, onTime: boolean, now: number): number[] {
  const policy = entry.catchUp;
  if (policy.kind === "skip") return [];
  const want = policy.kind === "latest" ? 1 : policy.max;
  const candidates = onTime ? entry.ticks.before(newest, want) : [newest, ...entry.ticks.before(newest, want - 1)];
  const oldest = policy.kind === "all" && policy.withinMs !== null ? now - policy.withinMs : -Infinity;
  return candidates.filter((t) => t > lastTick && t >= oldest).sort((a, b) => a - b);
}

import { formatDuration } from "../duration.js";
import type { ResolvedEntry } from "./entry.js";
import type { CatchUpPolicy } from "./plan.js";
import type { CleanupRunRecord, FireRecord, ScheduleStore } from "./schedule-store.js";

export interface ScheduledEntryView {
  name: string;
  task: string;
  schedule: string;
  timezone: string;
  catchUp: string;
  /** ISO; from the store when a beat has run the entry, else computed from the schedule. */
  nextRun: string | null;
  /** True when nextRun has passed by the store's clock: no beat is running. */
  overdue: boolean;
  lastRun: (Omit<FireRecord, "entry" | "tick" | "claimedAt" | "sentAt"> & { tick: string; sentAt: string | null; state: string }) | null;
  fired: number;
  missed: number;
  catchUps: number;
  /** Fires in the recent history that were claimed and never confirmed sent. */
  unconfirmed: number;
}

export interface ScheduledView {
  /** The store's clock, ISO. */
  now: string;
  entries: ScheduledEntryView[];
  /** The newest cleanup run recorded in the store. */
  lastCleanup: (Omit<CleanupRunRecord, "startedAt"> & { startedAt: string }) | null;
}

/** How many recent fires per entry are looked at for unconfirmed ones. */
const RECENT = 50;

/**
 * What `ebb inspect beat` prints: every entry with its next and last run, the last task's
 * state, and its counters. Read from the store alone, so any process gives the same answer.
 */
export async function inspectScheduled(
  entries: readonly ResolvedEntry[],
  store: ScheduleStore,
  stateOf: (taskId: string) => Promise<string>,
): Promise<ScheduledView> {
  const now = await store.now();
  const states = await store.states(entries.map((e) => e.name));
  const views = await Promise.all(
    entries.map(async (e): Promise<ScheduledEntryView> => {
      const s = states.get(e.name);
      const current = s !== undefined && s.schedule === e.ticks.fingerprint;
      const next = current ? s.nextTick : e.ticks.next(Math.max(now, s?.lastTick ?? now));
      const recent = s ? await store.history(e.name, RECENT) : [];
      const last = s?.lastFire ?? null;
      return {
        name: e.name,
        task: e.task,
        schedule: String(e.schedule),
        timezone: e.timezone,
        catchUp: describeCatchUp(e.catchUp),
        nextRun: iso(next),
        overdue: next !== null && current && next < now,
        lastRun: last && {
          taskId: last.taskId,
          catchUp: last.catchUp,
          tick: iso(last.tick)!,
          sentAt: iso(last.sentAt),
          state: await stateOf(last.taskId),
        },
        fired: s?.fired ?? 0,
        missed: s?.missed ?? 0,
        catchUps: s?.catchUps ?? 0,
        unconfirmed: recent.filter((f) => f.sentAt === null).length,
      };
    }),
  );
  const [run] = await store.runs(1);
  return { now: iso(now)!, entries: views, lastCleanup: run ? { ...run, startedAt: iso(run.startedAt)! } : null };
}

export function describeCatchUp(p: CatchUpPolicy): string {
  if (p.kind !== "all") return p.kind;
  return `all (max ${p.max}${p.withinMs === null ? "" : `, within ${formatDuration(p.withinMs)}`})`;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

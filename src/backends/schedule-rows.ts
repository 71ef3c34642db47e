import type { EntryState, FireRecord } from "../beat/schedule-store.js";

/**
 * Beat's rows as the SQL stores read them (SQLite and PostgreSQL keep the same tables, see
 * ebb_beat_entries and ebb_beat_fires), and how they become the ScheduleStore's records. Only
 * the flag differs: SQLite reads catch_up as 0/1, PostgreSQL as a boolean.
 */
type Flag = boolean | number;

/** The columns of a fire, in the order FireRow lists them. */
export const FIRE_COLUMNS = "entry, tick, task_id, catch_up, claimed_at, sent_at";

/** An entry row joined with its newest fire (fire columns NULL before the first). */
export interface StateRow {
  entry: string;
  schedule: string;
  last_tick: number;
  next_tick: number | null;
  fired: number;
  missed: number;
  catch_ups: number;
  tick: number | null;
  task_id: string | null;
  catch_up: Flag | null;
  claimed_at: number | null;
  sent_at: number | null;
}

export interface FireRow {
  entry: string;
  tick: number;
  task_id: string;
  catch_up: Flag;
  claimed_at: number;
  sent_at: number | null;
}

export function toState(r: StateRow): EntryState {
  const lastFire: FireRecord | null =
    r.tick === null
      ? null
      : { entry: r.entry, tick: r.tick, taskId: r.task_id!, catchUp: isSet(r.catch_up), claimedAt: r.claimed_at!, sentAt: r.sent_at };
  return {
    entry: r.entry,
    schedule: r.schedule,
    lastTick: r.last_tick,
    nextTick: r.next_tick,
    fired: r.fired,
    missed: r.missed,
    catchUps: r.catch_ups,
    lastFire,
  };
}

export function toFire(r: FireRow): FireRecord {
  return { entry: r.entry, tick: r.tick, taskId: r.task_id, catchUp: isSet(r.catch_up), claimedAt: r.claimed_at, sentAt: r.sent_at };
}

function isSet(flag: Flag | null): boolean {
  return flag === true || flag === 1;
}

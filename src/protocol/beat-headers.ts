/**
 * The tick a beat-sent message serves, in extra headers that Celery's workers ignore:
 *   ebb_beat_entry     string   the schedule entry's name
 *   ebb_beat_tick      string   the intended tick instant, ISO 8601 UTC
 *   ebb_beat_catch_up  boolean  true when the tick was missed and is sent late by the catch-up policy
 * A handler reads them as currentTask().beat.
 */
export interface BeatTick {
  entry: string;
  tick: Date;
  catchUp: boolean;
}

export function beatHeaders(entry: string, tick: number, catchUp: boolean): Record<string, unknown> {
  return { ebb_beat_entry: entry, ebb_beat_tick: new Date(tick).toISOString(), ebb_beat_catch_up: catchUp };
}

/** The tick a message serves, or null for a message beat did not send (or headers it cannot read). */
export function readBeatHeaders(headers: Readonly<Record<string, unknown>>): BeatTick | null {
  const { ebb_beat_entry: entry, ebb_beat_tick: tick, ebb_beat_catch_up: catchUp } = headers;
  if (typeof entry !== "string" || typeof tick !== "string") return null;
  const at = new Date(tick);
  if (!Number.isFinite(at.getTime())) return null;
  return { entry, tick: at, catchUp: catchUp === true };
}

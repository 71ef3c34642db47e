import { Cron } from "croner";
import { parseDuration, formatDuration, type DurationInput } from "../duration.js";
import { ConfigError, describe } from "../errors.js";
import { checkTimeZone } from "./time-zone.js";

/**
 * When an entry's ticks fall. crontab() and every() build schedules; a schedule is bound to a time
 * zone to give a TickSource. A schedule that cannot work keeps its problem instead of throwing, so
 * createApp() can name the entry it belongs to ("beatSchedule.nightly: crontab minute ...").
 *
 * Ticks are instants (epoch ms) that every process computes alike from the schedule alone: that
 * is what lets any number of beats claim the same tick in the store. Cron arithmetic is croner's.
 */
export interface Schedule {
  readonly kind: "crontab" | "interval";
  /** Why this schedule cannot be used, or null. */
  readonly problem: string | null;
  /** As the user wrote it, e.g. `crontab(minute="*\/15")` or `every("10s")`. */
  toString(): string;
  /** Its ticks in a time zone (intervals ignore it). Throws ConfigError when the schedule has a problem. */
  bind(timeZone: string): TickSource;
}

export interface TickSource {
  /** Stable text for the schedule and its zone, stored with the entry's state: a change starts the entry afresh. */
  readonly fingerprint: string;
  /** The first tick strictly after `after`; null when there is none. */
  next(after: number): number | null;
  /** The newest tick at or before `at`; null when there is none. */
  previous(at: number): number | null;
  /** Up to n ticks strictly before `before`, newest first. */
  before(before: number, n: number): number[];
  /** How many ticks fall in (from, to], counting no further than cap. */
  count(from: number, to: number, cap: number): number;
}

/** A crontab field as Celery takes it: a number, a string ("*\/15", "1-5", "mon-fri", "1,15"), or a list of numbers. */
export type CronField = number | string | readonly number[];

/** Celery's crontab fields, with Celery's meanings: day of week counts from Sunday = 0; dayOfMonth and dayOfWeek must both match. */
export interface CrontabFields {
  minute?: CronField;
  hour?: CronField;
  dayOfWeek?: CronField;
  dayOfMonth?: CronField;
  monthOfYear?: CronField;
}

/** Field order in a 5-part cron pattern, with the names Celery uses in its errors. */
const FIELDS = [
  ["minute", "minute"],
  ["hour", "hour"],
  ["dayOfMonth", "day_of_month"],
  ["monthOfYear", "month_of_year"],
  ["dayOfWeek", "day_of_week"],
] as const;

/**
 * croner options. domAndDow: Celery requires day of month AND day of week to match (Vixie cron
 * ORs them). fixedTimeRule "no-wildcard": a tick with no wildcard or step in minute and hour
 * (e.g. hour 2, minute 30, or hour "2,14") is a fixed-time tick: in a spring-forward gap it runs
 * once at the first valid instant after the gap, in a fall-back overlap once (the first pass).
 */
const CRON_OPTIONS = { mode: "5-part", domAndDow: true, fixedTimeRule: "no-wildcard", paused: true } as const;

/** The shortest interval every() takes: each tick is a write to the store. */
const MIN_INTERVAL_MS = 1_000;

/** Celery's crontab(): `crontab({ hour: 4, minute: 0 })`, `crontab({ minute: "*\/15" })`, `crontab({ dayOfWeek: "mon-fri", hour: 9 })`. Unset fields are "*". */
export function crontab(fields: CrontabFields = {}): Schedule {
  let pattern = "";
  let problem: string | null = null;
  const shown: string[] = [];
  try {
    if (typeof fields !== "object" || fields === null)
      throw new Error(`expected an object of fields such as { hour: 4, minute: 0 }, got ${describe(fields)}`);
    const known = new Set<string>(FIELDS.map(([k]) => k));
    const unknown = Object.keys(fields).filter((k) => !known.has(k));
    if (unknown.length > 0)
      throw new Error(
        `unknown field ${unknown.map((k) => JSON.stringify(k)).join(", ")}; crontab takes minute, hour, dayOfWeek, dayOfMonth, monthOfYear`,
      );
    const parts = FIELDS.map(([key]) => fieldText(key, fields[key]));
    pattern = parts.join(" ");
    FIELDS.forEach(([key, celeryName], i) => {
      if (fields[key] !== undefined) shown.push(`${celeryName}=${JSON.stringify(parts[i])}`);
    });
    problem = patternProblem(parts);
  } catch (e) {
    problem = `crontab: ${(e as Error).message}`;
  }
  const text = `crontab(${shown.join(", ")})`;
  return {
    kind: "crontab",
    problem,
    toString: () => text,
    bind(timeZone) {
      if (problem !== null) throw new ConfigError(problem);
      checkTimeZone(timeZone);
      return cronTicks(pattern, timeZone);
    },
  };
}

/** A fixed interval: `every("10s")`, `every("15m")`. Ticks fall on multiples of the interval since the Unix epoch (UTC), so every process agrees on them; use crontab() for times of day. */
export function every(interval: DurationInput): Schedule {
  let periodMs = 0;
  let problem: string | null = null;
  try {
    if (typeof interval === "number")
      throw new Error(`expected a duration with a unit such as "10s" or "5m", got ${interval} (a bare number has no unit)`);
    const ms = parseDuration(interval, { option: "the interval", allowNever: false });
    if (ms === null || ms <= 0) throw new Error(`the interval must be more than 0, got ${describe(interval)}`);
    if (ms < MIN_INTERVAL_MS) throw new Error(`the interval must be at least 1s, got ${describe(interval)}`);
    periodMs = ms;
  } catch (e) {
    problem = `every(): ${(e as Error).message}`;
  }
  const text = `every(${JSON.stringify(problem ? interval : formatDuration(periodMs))})`;
  return {
    kind: "interval",
    problem,
    toString: () => text,
    bind() {
      if (problem !== null) throw new ConfigError(problem);
      return intervalTicks(periodMs);
    },
  };
}

export function isSchedule(value: unknown): value is Schedule {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Schedule).bind === "function" &&
    ((value as Schedule).kind === "crontab" || (value as Schedule).kind === "interval")
  );
}

function fieldText(key: string, value: CronField | undefined): string {
  if (value === undefined) return "*";
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Error(`${key} must be a whole number, got ${value}`);
    return String(value);
  }
  if (typeof value === "string") {
    const t = value.trim().toLowerCase();
    if (t === "" || /\s/.test(t))
      throw new Error(`${key} ${JSON.stringify(value)} is not a crontab field; write e.g. "*/15", "1-5", "mon-fri" or "0,30"`);
    return t;
  }
  if (Array.isArray(value) && value.length > 0 && value.every((v) => Number.isInteger(v))) return value.join(",");
  throw new Error(`${key} must be a number, a string such as "*/15" or a non-empty list of whole numbers, got ${describe(value)}`);
}

/** croner's verdict on the pattern; when it fails, find the field to blame by checking each alone. */
function patternProblem(parts: string[]): string | null {
  const tryPattern = (p: string): string | null => {
    try {
      new Cron(p, { ...CRON_OPTIONS, timezone: "UTC" });
      return null;
    } catch (e) {
      return (e as Error).message.replace(/^CronPattern: /, "");
    }
  };
  if (tryPattern(parts.join(" ")) === null) return null;
  for (let i = 0; i < FIELDS.length; i++) {
    const alone = parts.map((p, j) => (j === i ? p : "*"));
    const why = tryPattern(alone.join(" "));
    if (why !== null) {
      const [key] = FIELDS[i]!;
      const hint = /larger than to value/.test(why) ? ` (ranges go upward; write e.g. "fri-sat,sun-mon" for fri-mon)` : "";
      return `crontab ${key} ${JSON.stringify(parts[i])}: ${why}${hint}`;
    }
  }
  return `crontab "${parts.join(" ")}": ${tryPattern(parts.join(" "))}`;
}

function cronTicks(pattern: string, timeZone: string): TickSource {
  const cron = new Cron(pattern, { ...CRON_OPTIONS, timezone: timeZone });
  const at = (d: Date | null | undefined): number | null => (d ? d.getTime() : null);
  return {
    fingerprint: `cron ${pattern} ${timeZone}`,
    next: (after) => at(cron.nextRun(new Date(after))),
    // croner's previousRuns looks strictly before its reference; ticks are whole seconds, so +1 ms includes `at` itself.
    previous: (t) => at(cron.previousRuns(1, new Date(t + 1))[0]),
    before: (t, n) => (n <= 0 ? [] : cron.previousRuns(n, new Date(t)).map((d) => d.getTime())),
    count(from, to, cap) {
      let n = 0;
      for (let t = at(cron.nextRun(new Date(from))); t !== null && t <= to && n < cap; t = at(cron.nextRun(new Date(t)))) n++;
      return n;
    },
  };
}

function intervalTicks(periodMs: number): TickSource {
  const floor = (t: number) => Math.floor(t / periodMs) * periodMs;
  return {
    fingerprint: `every ${periodMs}ms`,
    next: (after) => floor(after) + periodMs,
    previous: (t) => floor(t),
    before(t, n) {
      const out: number[] = [];
      for (let tick = Math.ceil(t / periodMs) * periodMs - periodMs; out.length < n; tick -= periodMs) out.push(tick);
      return out;
    },
    count: (from, to, cap) => Math.max(0, Math.min(cap, Math.floor(to / periodMs) - Math.floor(from / periodMs))),
  };
}

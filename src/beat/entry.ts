import { z } from "zod";
import { parseDuration, type DurationInput } from "../duration.js";
import { ConfigError, describe } from "../errors.js";
import type { CallOptions } from "../task.js";
import type { CatchUpPolicy } from "./plan.js";
import { crontab, isSchedule, type Schedule, type TickSource } from "./schedules.js";
import { checkTimeZone } from "./time-zone.js";

/** The per-call options an entry's messages are sent with: applyAsync's, less those that make no sense for a periodic send. */
export type EntryCallOptions = Pick<CallOptions, "queue" | "priority" | "expires" | "countdown" | "resultExpires" | "ignoreResult">;

/** The catch-up policy after beat was down: "latest" (default), "skip", or { all: true, within: "2d", max: 100 }. */
export type CatchUpInput = "latest" | "skip" | { all: true; within?: DurationInput; max?: number };

/** One entry of createApp({ beatSchedule }). */
export interface BeatEntryInput {
  /** The task's name. Required, except for the built-in "celery.backend_cleanup" entry, whose task it names. */
  task?: string;
  /** crontab({...}) or every("10s"). */
  schedule?: Schedule;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  /** As applyAsync's: queue, priority, expires (message expiry, from the send), countdown, resultExpires, ignoreResult. */
  options?: EntryCallOptions;
  catchUp?: CatchUpInput;
  /** IANA time zone for a crontab; default the app's timezone. */
  timezone?: string;
}

export interface ResolvedEntry {
  name: string;
  task: string;
  schedule: Schedule;
  timezone: string;
  ticks: TickSource;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: EntryCallOptions;
  catchUp: CatchUpPolicy;
}

/** Celery installs this entry itself (celery/beat.py, install_default_entries): daily at 04:00, its message expiring after 12 hours. */
export const BACKEND_CLEANUP_ENTRY = "celery.backend_cleanup";
const DEFAULT_CLEANUP: BeatEntryInput = {
  task: BACKEND_CLEANUP_ENTRY,
  schedule: crontab({ hour: 4, minute: 0 }),
  options: { expires: "12h" },
};
/** Default catch-up for { all: true } without a max. */
const DEFAULT_ALL_MAX = 100;

const optionsSchema = z
  .object({
    queue: z
      .string()
      .regex(/^[\w.:@-]+$/, "a queue name of letters, digits and . _ : @ -")
      .optional(),
    priority: z.number().int().min(0).max(9).optional(),
    expires: z.union([z.string(), z.number(), z.null()]).optional(),
    countdown: z.union([z.string(), z.number()]).optional(),
    resultExpires: z.union([z.string(), z.number(), z.null()]).optional(),
    ignoreResult: z.boolean().optional(),
  })
  .strict();

const entrySchema = z
  .object({
    task: z.string().min(1).optional(),
    schedule: z.custom<Schedule>(isSchedule, 'a schedule made with crontab({...}) or every("10s")').optional(),
    args: z.array(z.unknown()).optional(),
    kwargs: z.record(z.string(), z.unknown()).optional(),
    options: optionsSchema.optional(),
    catchUp: z.unknown().optional(),
    timezone: z.string().optional(),
  })
  .strict();

/**
 * The app's schedule: the built-in cleanup entry (unless the user moved or removed it, with
 * `null`), then the user's entries. Every problem is a ConfigError that names the entry, thrown
 * when the app is created, not at 4 a.m.
 */
export function resolveBeatSchedule(input: Record<string, BeatEntryInput | null> | undefined, appTimeZone: string): ResolvedEntry[] {
  if (input !== undefined && (typeof input !== "object" || input === null || Array.isArray(input))) {
    throw new ConfigError(`createApp: option beatSchedule: expected an object of named entries, got ${describe(input)}`);
  }
  const given = input ?? {};
  const out: ResolvedEntry[] = [];
  if (!Object.hasOwn(given, BACKEND_CLEANUP_ENTRY)) out.push(resolveEntry(BACKEND_CLEANUP_ENTRY, DEFAULT_CLEANUP, appTimeZone));
  for (const [name, entry] of Object.entries(given)) {
    if (entry === null) continue;
    const merged = name === BACKEND_CLEANUP_ENTRY ? { ...DEFAULT_CLEANUP, ...entry } : entry;
    out.push(resolveEntry(name, merged, appTimeZone));
  }
  return out;
}

function resolveEntry(name: string, input: BeatEntryInput, appTimeZone: string): ResolvedEntry {
  const where = `beatSchedule[${JSON.stringify(name)}]`;
  // A function declaration with a never return type, so the checks below narrow what follows them.
  function fail(why: string): never {
    throw new ConfigError(`${where}: ${why}`);
  }
  if (name.length === 0 || /[\n\r]/.test(name)) fail("an entry needs a name without line breaks");
  if (typeof input !== "object" || input === null)
    fail(
      `expected an entry such as { task: "reports.daily", schedule: crontab({ hour: 4, minute: 0 }) }, or null to remove it, got ${describe(input)}`,
    );
  const r = entrySchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.join(".");
    fail(
      issue.code === "unrecognized_keys"
        ? `unknown option ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}${path ? ` in ${path}` : ""}`
        : `option ${path || "(entry)"}: ${issue.message}`,
    );
  }
  const { task, schedule, timezone: zone, args, kwargs, catchUp } = r.data;
  if (task === undefined) fail('it has no task; give task: "name.of.task"');
  if (schedule === undefined) fail('it has no schedule; give schedule: crontab({ ... }) or every("10s")');
  if (schedule.problem !== null) fail(schedule.problem);
  let timezone = appTimeZone;
  if (zone !== undefined) {
    try {
      timezone = checkTimeZone(zone);
    } catch (err) {
      fail(`option timezone: ${(err as Error).message}`);
    }
  }
  const ticks = schedule.bind(timezone);
  if (ticks.next(Date.now()) === null)
    fail(`${schedule} never matches a date from now on (in ${timezone}); check dayOfMonth and monthOfYear`);
  const options = (r.data.options ?? {}) as EntryCallOptions;
  checkDurations(options, fail);
  return { name, task, schedule, timezone, ticks, args: args ?? [], kwargs: kwargs ?? {}, options, catchUp: catchUpPolicy(catchUp, fail) };
}

function checkDurations(options: EntryCallOptions, fail: (why: string) => never): void {
  const check = (option: "expires" | "countdown" | "resultExpires", numberUnit?: "s") => {
    if (options[option] === undefined) return;
    try {
      parseDuration(options[option], {
        option: `options.${option}`,
        ...(numberUnit ? { numberUnit } : {}),
        allowNever: option !== "countdown",
      });
    } catch (err) {
      fail((err as Error).message);
    }
  };
  check("expires", "s");
  check("countdown", "s");
  check("resultExpires");
}

function catchUpPolicy(input: unknown, fail: (why: string) => never): CatchUpPolicy {
  if (input === undefined || input === "latest") return { kind: "latest" };
  if (input === "skip") return { kind: "skip" };
  const bad = () => fail(`option catchUp: expected "latest", "skip" or { all: true, within: "2d", max: 100 }, got ${describe(input)}`);
  if (typeof input !== "object" || input === null || Array.isArray(input)) return bad();
  const { all, within, max, ...rest } = input as { all?: unknown; within?: unknown; max?: unknown };
  if (all !== true || Object.keys(rest).length > 0) return bad();
  if (max !== undefined && (typeof max !== "number" || !Number.isInteger(max) || max < 1))
    fail(`option catchUp.max: expected a whole number >= 1, got ${describe(max)}`);
  let withinMs: number | null = null;
  try {
    withinMs = within === undefined ? null : parseDuration(within, { option: "catchUp.within" });
  } catch (err) {
    fail(`option ${(err as Error).message.replace(/^Expected /, "")}`);
  }
  return { kind: "all", withinMs, max: (max as number | undefined) ?? DEFAULT_ALL_MAX };
}

/** An entry's task must be known to this app, or be sent by name to a queue some other worker consumes. */
export function checkEntryTasks(entries: readonly ResolvedEntry[], registered: (task: string) => boolean): void {
  for (const e of entries) {
    if (registered(e.task) || e.options.queue !== undefined) continue;
    throw new ConfigError(
      `beatSchedule[${JSON.stringify(e.name)}]: task ${JSON.stringify(e.task)} is not registered in this app; register it with app.task(${JSON.stringify(e.task)}, ...), or give options.queue to send it by name to workers that have it`,
    );
  }
}

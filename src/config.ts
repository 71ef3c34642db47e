import { z } from "zod";
import type { Clock } from "./clock.js";
import { systemClock } from "./clock.js";
import { checkBackendUrl } from "./backends/by-url.js";
import { checkBrokerUrl } from "./brokers/by-url.js";
import { formatDuration, parseDuration, type DurationInput } from "./duration.js";
import { ConfigError, describe } from "./errors.js";
import { BUILTIN_TIERS, type Tier } from "./retention/tiers.js";
import { resolveBeatSchedule, type BeatEntryInput, type ResolvedEntry } from "./beat/entry.js";
import { checkTimeZone } from "./beat/time-zone.js";
import { checkLimitPair, timeLimitSchema } from "./time-limit-options.js";

/**
 * The app's configuration: what createApp() accepts, each option with its default and unit.
 * The CLI maps its flags and EBB_* variables onto this same shape.
 */
export interface AppConfig {
  /** Where messages go. Default: EBB_BROKER_URL, else "sqlite://./ebb.db". */
  broker?: string;
  /** Where results go. Default: EBB_BACKEND_URL, else the broker URL when it is sqlite://, memory://, redis:// or postgresql://. */
  backend?: string;
  /** Global result lifetime (pattern 1). Default "24h"; null = never. */
  resultExpires?: DurationInput;
  /** How long an expired result's id is still reported EXPIRED rather than unknown. Default "7d". */
  expiredGrace?: DurationInput;
  /** Named retention tiers, added to / overriding the built-in ones. expires: null = never; action default "delete". */
  tiers?: Record<string, { expires: DurationInput; action?: "delete" | "archive" }>;
  /** Global ignore-result switch (pattern 4). Default false. */
  ignoreResult?: boolean;
  /** Store failures even when results are ignored (as Celery does for per-call ignore). Default true. */
  storeErrorsEvenIfIgnored?: boolean;
  /**
   * Store the call with each result: task name, args, kwargs, worker, retries and queue (Celery's
   * result_extended). Default false, as in Celery: arguments often hold personal data, and a
   * stored result (and its archive) outlives the call. A task may override it.
   */
  resultExtended?: boolean;
  /** Queue that tasks go to unless told otherwise. Default "celery" (Celery's). */
  defaultQueue?: string;
  /** How long get() waits when no timeoutMs is given. Default "1m"; null = wait forever. */
  resultTimeout?: DurationInput;
  /** A leased message not acked or refreshed within this is delivered again. Default "1h" (kombu's). */
  visibilityTimeout?: DurationInput;
  /** Default retry delay when a task retries without a countdown. Default "3m" (Celery's). */
  retryDelay?: DurationInput;
  /** Default max retries. Default 3 (Celery's); null = unlimited. */
  maxRetries?: number | null;
  /**
   * Store STARTED (with {pid, hostname}) when a task's handler starts (Celery's
   * task_track_started). Default false, as in Celery. Not stored for results that are ignored.
   */
  trackStarted?: boolean;
  /**
   * Hard time limit of every task (Celery's task_time_limit), e.g. "5m": past it, FAILURE
   * (TimeLimitExceeded) is stored, the message acked and its slot freed. Default: none. A task,
   * a call (the message's timelimit header) or `ebb worker --time-limit` may set its own.
   */
  timeLimit?: DurationInput;
  /** Soft time limit of every task (Celery's task_soft_time_limit): the task's signal is aborted with SoftTimeLimitExceeded. Default: none. */
  softTimeLimit?: DurationInput;
  /** Where the built-in celery.backend_cleanup task writes archives of archive-tier results. Default "./ebb-archives". */
  archiveDir?: string;
  /** Time zone of crontab schedules (an IANA name). Default "UTC"; an entry may override it. */
  timezone?: string;
  /**
   * Beat's schedule: named entries { task, schedule: crontab({...}) | every("10s"), args, kwargs,
   * options, catchUp, timezone }. The built-in "celery.backend_cleanup" entry (daily at 04:00 in
   * `timezone`) is added unless this names it: give it a schedule to move it, or null to remove it.
   */
  beatSchedule?: Record<string, BeatEntryInput | null>;
  /**
   * Workers send Celery's monitoring events (task events and the heartbeat) for `celery events`,
   * Flower and celery-exporter, as `celery worker -E` / worker_send_task_events do. Default false.
   * A worker's own `events` option (or `ebb worker -E`) overrides it.
   */
  workerEvents?: boolean;
  /**
   * Beat's storage history: every `every` (default "5m") one beat counts the result store (a
   * census) and keeps the sample in the store for `keep` (default "14d"), for the growth chart
   * and the forecast. false records none.
   */
  history?: { every?: DurationInput; keep?: DurationInput } | false;
  /** Clock for decisions made in this process (tests inject a manual one). Stores use their own clock. */
  clock?: Clock;
}

export interface ResolvedConfig {
  broker: string;
  backend: string;
  resultExpiresMs: number | null;
  expiredGraceMs: number;
  tiers: Readonly<Record<string, Tier>>;
  ignoreResult: boolean;
  storeErrorsEvenIfIgnored: boolean;
  resultExtended: boolean;
  defaultQueue: string;
  resultTimeoutMs: number | null;
  visibilityTimeoutMs: number;
  retryDelayMs: number;
  maxRetries: number | null;
  trackStarted: boolean;
  /** null = no limit. */
  timeLimitMs: number | null;
  softTimeLimitMs: number | null;
  archiveDir: string;
  timezone: string;
  /** Every entry beat runs, the built-in cleanup included (unless removed), validated. */
  beatSchedule: ResolvedEntry[];
  workerEvents: boolean;
  /** Beat's storage history, or null when it is off. */
  history: { everyMs: number; keepMs: number } | null;
  clock: Clock;
}

export const DEFAULTS = {
  broker: "sqlite://./ebb.db",
  resultExpires: "24h",
  expiredGrace: "7d",
  ignoreResult: false,
  storeErrorsEvenIfIgnored: true,
  resultExtended: false,
  defaultQueue: "celery",
  resultTimeout: "1m",
  visibilityTimeout: "1h",
  retryDelay: "3m",
  maxRetries: 3,
  trackStarted: false,
  archiveDir: "./ebb-archives",
  timezone: "UTC",
  workerEvents: false,
  history: { every: "5m", keep: "14d" },
} as const;

/** A zod schema for a duration option: parses to ms | null and reports the option by name. */
export function durationSchema(option: string, opts: { allowNever?: boolean; numberUnit?: "ms" | "s" } = {}) {
  return z.union([z.string(), z.number(), z.null()]).transform((value, ctx) => {
    try {
      return parseDuration(value, { option, ...opts });
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  });
}

const queueName = z.string().regex(/^[\w.:@-]+$/, "a queue name of letters, digits and . _ : @ -");

const configSchema = z
  .object({
    broker: z.string().min(1).optional(),
    backend: z.string().min(1).optional(),
    resultExpires: durationSchema("resultExpires").optional(),
    expiredGrace: durationSchema("expiredGrace", { allowNever: false }).optional(),
    tiers: z
      .record(
        z.string().regex(/^[\w.-]+$/),
        z.object({ expires: z.union([z.string(), z.number(), z.null()]), action: z.enum(["delete", "archive"]).optional() }).strict(),
      )
      .optional(),
    ignoreResult: z.boolean().optional(),
    storeErrorsEvenIfIgnored: z.boolean().optional(),
    resultExtended: z.boolean().optional(),
    defaultQueue: queueName.optional(),
    resultTimeout: durationSchema("resultTimeout").optional(),
    visibilityTimeout: durationSchema("visibilityTimeout", { allowNever: false }).optional(),
    retryDelay: durationSchema("retryDelay", { allowNever: false }).optional(),
    maxRetries: z.number().int().min(0).nullable().optional(),
    trackStarted: z.boolean().optional(),
    timeLimit: timeLimitSchema("timeLimit").optional(),
    softTimeLimit: timeLimitSchema("softTimeLimit").optional(),
    archiveDir: z.string().min(1).optional(),
    timezone: z.string().optional(),
    beatSchedule: z.unknown().optional(),
    workerEvents: z.boolean().optional(),
    history: z.unknown().optional(),
    clock: z.custom<Clock>((v) => typeof v === "function", "a function returning epoch ms").optional(),
  })
  .strict();

export function resolveConfig(input: AppConfig = {}, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const c = parseWith(configSchema, input, "createApp");
  const broker = c.broker ?? env.EBB_BROKER_URL ?? DEFAULTS.broker;
  checkBrokerUrl(broker);
  const backend = c.backend ?? env.EBB_BACKEND_URL ?? defaultBackendFor(broker);
  checkBackendUrl(backend);
  const tiers: Record<string, Tier> = { ...BUILTIN_TIERS };
  // Overriding a built-in tier's lifetime keeps its action: compliance stays archive unless told.
  for (const [name, t] of Object.entries(c.tiers ?? {}))
    tiers[name] = {
      expiresMs: parseDuration(t.expires, { option: `tiers.${name}.expires` }),
      action: t.action ?? (Object.hasOwn(BUILTIN_TIERS, name) ? BUILTIN_TIERS[name]!.action : "delete"),
    };
  let timezone: string = DEFAULTS.timezone;
  try {
    timezone = checkTimeZone(c.timezone ?? DEFAULTS.timezone);
  } catch (e) {
    throw new ConfigError(`createApp: option timezone: ${(e as Error).message}`);
  }
  checkLimitPair("createApp", c.timeLimit, c.softTimeLimit);
  const beatSchedule = resolveBeatSchedule(c.beatSchedule as AppConfig["beatSchedule"], timezone);
  const dur = (v: number | null | undefined, fallback: string) => (v === undefined ? parseDuration(fallback, { option: "default" }) : v);
  return {
    broker,
    backend,
    resultExpiresMs: dur(c.resultExpires, DEFAULTS.resultExpires),
    expiredGraceMs: dur(c.expiredGrace, DEFAULTS.expiredGrace)!,
    tiers,
    ignoreResult: c.ignoreResult ?? DEFAULTS.ignoreResult,
    storeErrorsEvenIfIgnored: c.storeErrorsEvenIfIgnored ?? DEFAULTS.storeErrorsEvenIfIgnored,
    resultExtended: c.resultExtended ?? DEFAULTS.resultExtended,
    defaultQueue: c.defaultQueue ?? DEFAULTS.defaultQueue,
    resultTimeoutMs: dur(c.resultTimeout, DEFAULTS.resultTimeout),
    visibilityTimeoutMs: dur(c.visibilityTimeout, DEFAULTS.visibilityTimeout)!,
    retryDelayMs: dur(c.retryDelay, DEFAULTS.retryDelay)!,
    maxRetries: c.maxRetries === undefined ? DEFAULTS.maxRetries : c.maxRetries,
    trackStarted: c.trackStarted ?? DEFAULTS.trackStarted,
    timeLimitMs: c.timeLimit ?? null,
    softTimeLimitMs: c.softTimeLimit ?? null,
    archiveDir: c.archiveDir ?? DEFAULTS.archiveDir,
    timezone,
    beatSchedule,
    workerEvents: c.workerEvents ?? DEFAULTS.workerEvents,
    history: resolveHistory(c.history),
    clock: c.clock ?? systemClock,
  };
}

const historySchema = z.object({
  history: z
    .object({
      every: durationSchema("history.every", { allowNever: false }).optional(),
      keep: durationSchema("history.keep", { allowNever: false }).optional(),
    })
    .strict(),
});

/** The shortest history slot: a census reads the whole store, so not more often than this. */
const MIN_HISTORY_EVERY_MS = 1_000;

/** `history`: false → off (null); an object or nothing → its slot and keep window, with the defaults. */
function resolveHistory(input: unknown): ResolvedConfig["history"] {
  if (input === false) return null;
  if (input !== undefined && (typeof input !== "object" || input === null || Array.isArray(input)))
    throw new ConfigError(`createApp: option history: expected { every, keep } or false, got ${describe(input)}`);
  const { history: h } = parseWith(historySchema, { history: input ?? {} }, "createApp");
  const everyMs = h.every ?? parseDuration(DEFAULTS.history.every, { option: "history.every" })!;
  const keepMs = h.keep ?? parseDuration(DEFAULTS.history.keep, { option: "history.keep" })!;
  if (everyMs < MIN_HISTORY_EVERY_MS)
    throw new ConfigError(`createApp: option history.every: expected at least 1s, got ${formatDuration(everyMs)}`);
  if (keepMs < everyMs)
    throw new ConfigError(
      `createApp: option history.keep: expected at least history.every (${formatDuration(everyMs)}), got ${formatDuration(keepMs)}`,
    );
  return { everyMs, keepMs };
}

/** Results go where messages go when that store can hold both; otherwise the user must say. */
function defaultBackendFor(broker: string): string {
  if (/^(sqlite|memory|rediss?|postgres(ql)?):\/\//i.test(broker)) return broker;
  throw new ConfigError(`No backend given for broker ${broker.split("://")[0]}://; set createApp({ backend }) or EBB_BACKEND_URL`);
}

/** Validate with zod and turn the first issues into one ConfigError naming the options. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.slice(0, 3).map((i) => {
    const path = i.path.join(".") || "(options)";
    if (i.code === "unrecognized_keys")
      return `${where}: unknown option ${i.keys.map((k) => JSON.stringify(k)).join(", ")}${path === "(options)" ? "" : ` in ${path}`}`;
    return i.message.startsWith("Expected ") && i.code === "custom" ? `${where}: ${i.message}` : `${where}: option ${path}: ${i.message}`;
  });
  throw new ConfigError(lines.join("; "));
}

import { z } from "zod";
import { durationSchema, parseWith } from "./config.js";
import { parseDuration, type DurationInput } from "./duration.js";
import { checkCompression, type Compression } from "./protocol/compression.js";
import { checkLimitPair, timeLimitSchema } from "./time-limit-options.js";
import type { AsyncResult } from "./result.js";
import type { Signature } from "./canvas/canvas-api.js";

/** What a resultExpires function sees besides the result (pattern 3 from outside). */
export interface Outcome {
  taskId: string;
}

/**
 * A duration, or a function of the (successful) result. The function is called for SUCCESS
 * only, so it sees the handler's own return type; a failure's lifetime comes from the next
 * rule (call, task duration, tier, global). To decide a failure's lifetime, catch inside the
 * handler and use currentTask().setResultExpires().
 */
export type ResultExpiresOption<R> = DurationInput | ((result: R, outcome: Outcome) => DurationInput);

export interface TaskOptions<R = unknown> {
  /** Pattern 2 (a duration) or 3 (a function of the result). null = never. Overrides tier and global. */
  resultExpires?: ResultExpiresOption<R>;
  /** A retention tier: a built-in one (realtime, api, standard, audit, compliance, critical) or one from createApp({ tiers }). */
  tier?: string;
  /** Pattern 4: do not store this task's results. Overrides the global switch either way. */
  ignoreResult?: boolean;
  /** Store failures even when results are ignored. Default: the app's (true). */
  storeErrorsEvenIfIgnored?: boolean;
  /** Store this task's name, args, kwargs, worker, retries and queue with its results (Celery's result_extended). Default: the app's (false). */
  resultExtended?: boolean;
  /** Message expiry for every call: a message not started within this is not run (REVOKED). Not result expiry. */
  expires?: DurationInput;
  /** Queue for this task's messages. Default: the app's defaultQueue. */
  queue?: string;
  /** 0..9, 0 first. Default 0. */
  priority?: number;
  /** Retries allowed. Default: the app's (3); null = unlimited. */
  maxRetries?: number | null;
  /** Delay before a retry when none is given. Default: the app's retryDelay (3m). */
  retryDelay?: DurationInput;
  /** Double the delay on each retry (capped at retryBackoffMax, with full jitter). Default false. */
  retryBackoff?: boolean;
  /** Cap for retryBackoff. Default "10m". */
  retryBackoffMax?: DurationInput;
  /** Errors that retry by themselves: classes, or a predicate. Default: none. */
  autoretryFor?: Array<abstract new (...args: never[]) => unknown> | ((error: unknown) => boolean);
  /**
   * The handler's parameter names, for keyword arguments (Celery's kwargs): positional args come
   * first, then each kwarg fills the parameter of its name, as in Python. A kwarg not named here
   * ends the task in FAILURE TypeError, as on a Python worker. The way for tasks that Python
   * callers send kwargs to. Not with `kwargs`.
   */
  params?: string[];
  /**
   * "last": keyword arguments arrive as one object after the positional ones (only when there
   * are any). What a task that declares neither `params` nor `kwargs` gets too. Not with `params`.
   */
  kwargs?: "last";
  /** Compress this task's messages as kombu does: "zlib" (= "gzip", kombu's application/x-gzip) or "brotli". Default: none. */
  compression?: Compression;
  /** Store STARTED when the handler starts (Celery's track_started). Default: the app's (false). */
  trackStarted?: boolean;
  /** Hard time limit ("30s"): FAILURE TimeLimitExceeded is stored and the handler no longer waited for. Default: the worker's, else the app's (none). */
  timeLimit?: DurationInput;
  /** Soft time limit ("25s"): the handler's signal is aborted with SoftTimeLimitExceeded. Default: the worker's, else the app's (none). */
  softTimeLimit?: DurationInput;
}

/** Per-call options for applyAsync. They override the task's. */
export interface CallOptions {
  /** Use this id instead of a fresh UUID. */
  taskId?: string;
  /** Run no earlier than this long from now ("10s"; a number is seconds). */
  countdown?: DurationInput;
  /** Run no earlier than this instant. */
  eta?: Date | string;
  /** Message expiry: a Date/ISO instant, or a duration from now. */
  expires?: DurationInput | Date;
  /** This call's result lifetime (pattern 2, per call). null = never. */
  resultExpires?: DurationInput;
  /** Do not store this call's result (or do, when the task ignores results). */
  ignoreResult?: boolean;
  queue?: string;
  priority?: number;
  /** Compress this message as kombu does ("zlib", "gzip" or "brotli"); overrides the task's. */
  compression?: Compression;
  /**
   * Keyword arguments, for Celery tasks that take them. An Ebb handler receives them by name when
   * its task declares `params`, else as one last argument.
   */
  kwargs?: Record<string, unknown>;
  /** This call's hard time limit (Celery's apply_async(time_limit=)), sent in the message. Default: the task's. */
  timeLimit?: DurationInput;
  /** This call's soft time limit (apply_async(soft_time_limit=)), sent in the message. Default: the task's. */
  softTimeLimit?: DurationInput;
}

/** A registered task, options resolved to milliseconds. */
export interface TaskDefinition {
  name: string;
  handler: (...args: never[]) => unknown;
  resultExpiresMs?: number | null;
  resultExpiresFn?: (result: unknown, outcome: Outcome) => DurationInput;
  tier?: string;
  ignoreResult?: boolean;
  storeErrorsEvenIfIgnored?: boolean;
  resultExtended?: boolean;
  expiresMs?: number | null;
  queue?: string;
  priority: number;
  maxRetries?: number | null;
  retryDelayMs?: number;
  retryBackoff: boolean;
  retryBackoffMaxMs: number;
  autoretry: (error: unknown) => boolean;
  /** Parameter names that keyword arguments bind to; undefined: kwargs come as a last object. */
  params?: readonly string[];
  compression?: Compression;
  trackStarted?: boolean;
  timeLimitMs?: number;
  softTimeLimitMs?: number;
}

/** What app.task() returns: call it by its handler's types. */
export interface TaskHandle<A extends unknown[], R> {
  readonly name: string;
  delay(...args: A): Promise<AsyncResult<R>>;
  applyAsync(args: A, options?: CallOptions): Promise<AsyncResult<R>>;
  /** Many calls at once, one round trip or transaction per chunk (app.sendMany). */
  delayMany(argsList: readonly A[], options?: Omit<CallOptions, "taskId"> & { chunkSize?: number }): Promise<AsyncResult<R>[]>;
  /** A signature for a canvas (chain, group, chord): a parent's result goes before these args. */
  s(...args: unknown[]): Signature<R>;
  /** An immutable signature: it gets exactly these args, not its parent's result. */
  si(...args: A): Signature<R>;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

const taskOptionsSchema = z
  .object({
    // A function passes through; anything else must be a duration (the error names option and value).
    resultExpires: z
      .unknown()
      .transform((v, ctx) => {
        if (typeof v === "function") return v as (...a: never[]) => DurationInput;
        try {
          return parseDuration(v, { option: "resultExpires" });
        } catch (e) {
          ctx.addIssue({ code: "custom", message: (e as Error).message });
          return z.NEVER;
        }
      })
      .optional(),
    tier: z.string().min(1).optional(),
    ignoreResult: z.boolean().optional(),
    storeErrorsEvenIfIgnored: z.boolean().optional(),
    resultExtended: z.boolean().optional(),
    expires: durationSchema("expires").optional(),
    queue: z
      .string()
      .regex(/^[\w.:@-]+$/)
      .optional(),
    priority: z.number().int().min(0).max(9).optional(),
    maxRetries: z.number().int().min(0).nullable().optional(),
    retryDelay: durationSchema("retryDelay", { allowNever: false }).optional(),
    retryBackoff: z.boolean().optional(),
    retryBackoffMax: durationSchema("retryBackoffMax", { allowNever: false }).optional(),
    autoretryFor: z
      .union([
        z.array(z.custom<abstract new (...a: never[]) => unknown>((v) => typeof v === "function")),
        z.custom<(e: unknown) => boolean>((v) => typeof v === "function"),
      ])
      .optional(),
    params: z
      .array(z.string().regex(IDENTIFIER, 'each name must be a JavaScript identifier such as "userId"'))
      .min(1)
      .refine((names) => new Set(names).size === names.length, "names must be unique")
      .optional(),
    kwargs: z.literal("last").optional(),
    compression: z
      .unknown()
      .transform((v, ctx) => {
        try {
          return checkCompression(v) as Compression;
        } catch (e) {
          ctx.addIssue({ code: "custom", message: (e as Error).message });
          return z.NEVER;
        }
      })
      .optional(),
    trackStarted: z.boolean().optional(),
    timeLimit: timeLimitSchema("timeLimit").optional(),
    softTimeLimit: timeLimitSchema("softTimeLimit").optional(),
  })
  .strict()
  .refine((o) => o.params === undefined || o.kwargs === undefined, {
    message: 'give params (kwargs bound by name) or kwargs: "last" (kwargs as one last argument), not both',
    path: ["params"],
  });

export function defineTask(name: string, handler: (...args: never[]) => unknown, options: TaskOptions<never> = {}): TaskDefinition {
  if (typeof name !== "string" || name.length === 0)
    throw new TypeError(`Expected a task name (non-empty string), got ${JSON.stringify(name)}`);
  if (typeof handler !== "function") throw new TypeError(`Expected task "${name}" to have a handler function, got ${typeof handler}`);
  const o = parseWith(taskOptionsSchema, options, `task "${name}"`);
  checkLimitPair(`task "${name}"`, o.timeLimit, o.softTimeLimit);
  const auto = o.autoretryFor;
  const def: TaskDefinition = {
    name,
    handler,
    priority: o.priority ?? 0,
    retryBackoff: o.retryBackoff ?? false,
    retryBackoffMaxMs: o.retryBackoffMax ?? 600_000,
    autoretry: auto === undefined ? () => false : Array.isArray(auto) ? (e) => auto.some((cls) => e instanceof cls) : auto,
  };
  if (typeof o.resultExpires === "function") def.resultExpiresFn = o.resultExpires as TaskDefinition["resultExpiresFn"];
  else if (o.resultExpires !== undefined) def.resultExpiresMs = o.resultExpires;
  if (o.tier !== undefined) def.tier = o.tier;
  if (o.ignoreResult !== undefined) def.ignoreResult = o.ignoreResult;
  if (o.storeErrorsEvenIfIgnored !== undefined) def.storeErrorsEvenIfIgnored = o.storeErrorsEvenIfIgnored;
  if (o.resultExtended !== undefined) def.resultExtended = o.resultExtended;
  if (o.expires !== undefined) def.expiresMs = o.expires;
  if (o.queue !== undefined) def.queue = o.queue;
  if (o.maxRetries !== undefined) def.maxRetries = o.maxRetries;
  if (o.retryDelay !== undefined) def.retryDelayMs = o.retryDelay ?? undefined;
  if (o.params !== undefined) def.params = Object.freeze([...o.params]);
  if (o.compression !== undefined) def.compression = o.compression;
  if (o.trackStarted !== undefined) def.trackStarted = o.trackStarted;
  if (o.timeLimit !== undefined) def.timeLimitMs = o.timeLimit;
  if (o.softTimeLimit !== undefined) def.softTimeLimitMs = o.softTimeLimit;
  return def;
}

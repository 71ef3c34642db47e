import { parseDuration } from "./duration.js";
import { ConfigError, describe } from "./errors.js";
import type { ResolvedConfig } from "./config.js";
import { checkCompression } from "./protocol/compression.js";
import { makeTaskMessage, type TaskMessage } from "./protocol/task-message.js";
import { parseCeleryTime } from "./protocol/timestamps.js";
import type { PublishOptions } from "./brokers/broker.js";
import type { CallOptions, TaskDefinition } from "./task.js";
import { checkLimitPair, parseTimeLimit } from "./time-limit-options.js";

/**
 * Turn one call (task name, args, call options, the task's own options if this process knows
 * the task) into a protocol message and where to publish it. Pure: `now` is passed in.
 * Call options win over task options, which win over the app's. The time limits (the call's,
 * else the task's) travel in the message, so a Python worker running the task honours them too.
 */
export function buildCall(
  name: string,
  args: unknown[],
  options: CallOptions,
  def: TaskDefinition | undefined,
  config: Pick<ResolvedConfig, "defaultQueue">,
  now: number,
): { message: TaskMessage; publish: PublishOptions } {
  if (!Array.isArray(args)) throw new ConfigError(`Expected the arguments of task "${name}" to be an array, got ${describe(args)}`);
  const eta = etaOf(options, now);
  const expires = expiresOf(options, def, now);
  const queue = options.queue ?? def?.queue ?? config.defaultQueue;
  const priority = options.priority ?? def?.priority ?? 0;
  if (!Number.isInteger(priority) || priority < 0 || priority > 9)
    throw new ConfigError(`Expected priority to be an integer 0..9, got ${describe(priority)}`);
  const compression = options.compression ?? def?.compression;
  if (compression !== undefined) checkCompression(compression);
  const message = makeTaskMessage({
    task: name,
    args,
    kwargs: options.kwargs ?? {},
    eta,
    expires,
    queue,
    priority,
    ignoreResult: options.ignoreResult === true,
    ...limitsOf(options, def),
    ...(options.taskId !== undefined ? { id: options.taskId } : {}),
    ...(options.resultExpires !== undefined ? { resultExpiresMs: parseDuration(options.resultExpires, { option: "resultExpires" }) } : {}),
    ...(options.ignoreResult !== undefined ? { ignoreResultOverride: options.ignoreResult } : {}),
    ...(compression !== undefined ? { compression } : {}),
  });
  return { message, publish: { queue, priority, availableAt: eta } };
}

function limitsOf(options: CallOptions, def: TaskDefinition | undefined): { timeLimitMs: number | null; softTimeLimitMs: number | null } {
  const hard = options.timeLimit !== undefined ? parseTimeLimit(options.timeLimit, "timeLimit") : undefined;
  const soft = options.softTimeLimit !== undefined ? parseTimeLimit(options.softTimeLimit, "softTimeLimit") : undefined;
  checkLimitPair("call options", hard, soft);
  return { timeLimitMs: hard ?? def?.timeLimitMs ?? null, softTimeLimitMs: soft ?? def?.softTimeLimitMs ?? null };
}

function etaOf(options: CallOptions, now: number): number | null {
  if (options.eta !== undefined && options.countdown !== undefined) throw new ConfigError("Give either eta or countdown, not both");
  if (options.eta !== undefined) return instant(options.eta, "eta");
  if (options.countdown !== undefined) {
    const ms = parseDuration(options.countdown, { option: "countdown", allowNever: false, numberUnit: "s" })!;
    return ms === 0 ? null : now + ms;
  }
  return null;
}

function expiresOf(options: CallOptions, def: TaskDefinition | undefined, now: number): number | null {
  const given = options.expires;
  if (given instanceof Date) return instant(given, "expires");
  if (typeof given === "string" && /^\d{4}-\d{2}-\d{2}T/.test(given)) return instant(given, "expires");
  const ms = given !== undefined ? parseDuration(given, { option: "expires", numberUnit: "s" }) : (def?.expiresMs ?? null);
  return ms === null ? null : now + ms;
}

/** A Date, or an ISO string read as Celery reads it: naive means UTC, never the local zone. */
function instant(value: Date | string, option: string): number {
  const bad = () =>
    new ConfigError(`Expected ${option} to be a Date or an ISO 8601 instant such as "2030-01-02T03:04:05Z", got ${describe(value)}`);
  if (value instanceof Date) {
    if (!Number.isFinite(value.getTime())) throw bad();
    return value.getTime();
  }
  try {
    return parseCeleryTime(value, option);
  } catch {
    throw bad();
  }
}

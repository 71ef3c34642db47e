import { z } from "zod";
import { parseDuration } from "./duration.js";
import { ConfigError, describe } from "./errors.js";

/**
 * Time-limit options (Celery's time_limit / soft_time_limit), wherever they are given: the app
 * (defaults for every task), a task, a call, a worker. Each is a duration such as "30s" or "5m",
 * longer than zero; leaving it out means "no limit here, use the next level". The soft limit
 * aborts the task's signal with SoftTimeLimitExceeded; the hard limit stores FAILURE
 * (TimeLimitExceeded) and stops waiting for the handler.
 *
 * Where both are given together they must make sense together: soft shorter than hard (Celery
 * accepts a soft limit at or past the hard one, which then never fires; Ebb says so instead).
 */

/** The longest delay a Node timer keeps (about 24.8 days); longer ones would fire at once. */
export const MAX_TIME_LIMIT_MS = 2_147_483_647;

/** Parse one limit: a duration > 0 and at most MAX_TIME_LIMIT_MS. `numberUnit` where the name says a bare number's unit (a flag's seconds, `timeLimitMs`). */
export function parseTimeLimit(value: unknown, option: string, numberUnit?: "s" | "ms"): number {
  const ms = parseDuration(value, { option, allowNever: false, ...(numberUnit ? { numberUnit } : {}) })!;
  if (ms <= 0 || ms > MAX_TIME_LIMIT_MS)
    throw new ConfigError(
      `Expected ${option} to be a duration longer than 0 and at most 24d, such as "30s" or "5m", got ${describe(value)}; leave it out for no limit`,
    );
  return ms;
}

/** A zod schema for one limit option, reporting the option by name. */
export function timeLimitSchema(option: string) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    try {
      return parseTimeLimit(value, option);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  });
}

/** Throws when a soft and a hard limit given together are in the wrong order. */
export function checkLimitPair(where: string, hardMs: number | null | undefined, softMs: number | null | undefined): void {
  if (hardMs == null || softMs == null || softMs < hardMs) return;
  throw new ConfigError(
    `${where}: expected softTimeLimit (${softMs / 1000}s) to be shorter than timeLimit (${hardMs / 1000}s): the soft limit warns the task before the hard limit stops it; lower softTimeLimit or leave it out`,
  );
}

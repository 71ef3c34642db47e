import { ConfigError, describe } from "./errors.js";

/**
 * Durations. One meaning, everywhere:
 *  - a string with units: "500ms", "30s", "5m", "24h", "7d", "2w", or a sum such as "1h30m";
 *  - a number, only where the option's name carries the unit (`timeoutMs`, `--countdown` seconds);
 *  - `null` (or the string "never") means never: the result does not expire;
 *  - zero ("0s") means "at once": a result with lifetime 0 is expired as soon as it is stored
 *    (it still reads EXPIRED during the grace window). Celery treats 0 as "never"; Ebb does not.
 * Negative, non-finite and unparseable values are rejected with an error naming the option, and
 * so are durations longer than MAX_DURATION_MS: added to any date of this era they would leave
 * the range a Date can hold ("Invalid time value" later, far from the option that caused it).
 */
export type DurationInput = string | number | null;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/gy;
const EXAMPLES = `"30s", "5m", "24h", "7d"`;

/** 50,000,000 days (about 137,000 years): half of what a Date can hold (±8.64e15 ms around 1970), so now ± it is always a valid date. */
export const MAX_DURATION_MS = 4_320_000_000_000_000;

export interface DurationOptions {
  /** The option's name, for the error message. */
  option: string;
  /** Unit of a bare number, when the option's name says it (e.g. "ms" for timeoutMs). Without it, numbers are rejected. */
  numberUnit?: "ms" | "s";
  /** Whether null/"never" is allowed. Default true. */
  allowNever?: boolean;
}

/** Parse a duration to milliseconds, or null for never. */
export function parseDuration(input: unknown, opts: DurationOptions): number | null {
  const allowNever = opts.allowNever ?? true;
  const expected = `Expected ${opts.option} to be a duration such as ${EXAMPLES}${allowNever ? ` or null for never` : ""}`;
  if (input === null || input === "never") {
    if (allowNever) return null;
    throw new ConfigError(`${expected}, got ${describe(input)}; ${opts.option} cannot be never`);
  }
  if (typeof input === "number") {
    if (!opts.numberUnit) {
      throw new ConfigError(`${expected}, got ${describe(input)}; write the unit, e.g. "${input}s"`);
    }
    if (!Number.isFinite(input) || input < 0) throw new ConfigError(`${expected}, got ${describe(input)}; it must be a finite number >= 0`);
    return withinRange(Math.round(input * UNIT_MS[opts.numberUnit]!), input, expected, allowNever);
  }
  if (typeof input !== "string") throw new ConfigError(`${expected}, got ${describe(input)}`);
  const text = input.trim();
  if (opts.numberUnit && /^\d+(\.\d+)?$/.test(text))
    return withinRange(Math.round(Number(text) * UNIT_MS[opts.numberUnit]!), input, expected, allowNever);
  if (text.startsWith("-")) throw new ConfigError(`${expected}, got ${describe(input)}; durations cannot be negative`);
  let total = 0;
  let matched = 0;
  PART.lastIndex = 0;
  for (let m = PART.exec(text); m; m = PART.exec(text)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched = PART.lastIndex;
  }
  if (text.length === 0 || matched !== text.length) throw new ConfigError(`${expected}, got ${describe(input)}`);
  return withinRange(Math.round(total), input, expected, allowNever);
}

function withinRange(ms: number, input: unknown, expected: string, allowNever: boolean): number {
  if (ms <= MAX_DURATION_MS) return ms;
  return fail(
    `${expected}, got ${describe(input)}; that is longer than a date can reach, at most ${formatDuration(MAX_DURATION_MS)}${allowNever ? ' (use null or "never" for no expiry)' : ""}`,
  );
}

function fail(message: string): never {
  throw new ConfigError(message);
}

/** "90000" ms → "1m30s". For messages and tables. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return "never";
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join("");
}

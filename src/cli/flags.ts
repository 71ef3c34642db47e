import { type Command, Option } from "commander";
import { parseDuration } from "../duration.js";
import { describe } from "../errors.js";
import { parseCeleryJson } from "../protocol/celery-json.js";
import { checkCompression, type Compression } from "../protocol/compression.js";
import { parseCeleryTime } from "../protocol/timestamps.js";
import { parseTimeLimit } from "../time-limit-options.js";
import { UsageError } from "./exit-codes.js";

/** Flags every command takes: where the app or the stores are, and --json. */
export function withAppFlags(cmd: Command): Command {
  return (
    cmd
      .option("-A, --app <module>", "module that exports the app (as `app` or default); .ts loads too")
      // Not commander's .env(): EBB_BROKER_URL / EBB_BACKEND_URL are read by createApp() itself, so they
      // work with -A too (an app that names no URLs takes them), and only the flags conflict with -A.
      .addOption(new Option("--broker <url>", "broker URL when there is no app module (default: EBB_BROKER_URL)"))
      .addOption(new Option("--backend <url>", "result backend URL when there is no app module (default: EBB_BACKEND_URL)"))
      .option("--json", "print one JSON object")
  );
}

/** A duration flag: "30s", "5m", "24h", "7d"; a bare number is seconds, as in Celery. */
export function durationFlag(flag: string, value: string, allowNever = false): number | null {
  try {
    return parseDuration(value, { option: flag, numberUnit: "s", allowNever });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A time-limit flag (--time-limit): a duration > 0 such as "5m"; a bare number is seconds, as in Celery. */
export function timeLimitFlag(flag: string, value: string): number {
  try {
    return parseTimeLimit(value, flag, "s");
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * An instant flag (--eta): an ISO 8601 date and time, read as the core reads it
 * (parseCeleryTime: naive means UTC), checked here so the error names the flag.
 */
export function instantFlag(flag: string, value: string): string {
  try {
    parseCeleryTime(value, flag);
  } catch {
    throw new UsageError(`Expected ${flag} to be an ISO 8601 instant such as 2030-01-02T03:04:05Z, got ${JSON.stringify(value)}`);
  }
  return value.trim();
}

export function jsonFlag<T>(flag: string, value: string, check: (v: unknown) => v is T, expected: string): T {
  let parsed: unknown;
  try {
    parsed = parseCeleryJson(value);
  } catch {
    throw new UsageError(`Expected ${flag} to be ${expected}, got ${JSON.stringify(value)} which is not JSON`);
  }
  if (!check(parsed)) throw new UsageError(`Expected ${flag} to be ${expected}, got ${describe(parsed)}`);
  return parsed;
}

export function intFlag(flag: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || n < min || n > max)
    throw new UsageError(
      `Expected ${flag} to be an integer ${min}..${max === Number.MAX_SAFE_INTEGER ? "" : max}, got ${JSON.stringify(value)}`,
    );
  return n;
}

/** --compression: a method Ebb can send ("zlib", "gzip", "brotli"), else a usage error saying which. */
export function compressionFlag(value: string): Compression {
  try {
    return checkCompression(value, "--compression") as Compression;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

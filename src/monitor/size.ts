import { ConfigError, describe } from "../errors.js";

/**
 * Sizes for limits such as --max-bytes. Decimal units are powers of 1000 (KB, MB, GB, TB), as
 * disk vendors and `df -H` count; binary units are powers of 1024 (KiB, MiB, GiB, TiB). A bare
 * number is bytes. Units are case-insensitive ("500mb"); the result is a whole number of bytes.
 */
const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

const SIZE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

export function parseSize(input: string, option: string): number {
  const expected = `Expected ${option} to be a size such as "500MB", "2GiB" or a number of bytes`;
  const m = SIZE.exec(input.trim());
  if (!m) throw new ConfigError(`${expected}, got ${describe(input)}${input.trim().startsWith("-") ? "; sizes cannot be negative" : ""}`);
  const unit = m[2]!.toLowerCase() || "b";
  const factor = UNITS[unit];
  if (factor === undefined)
    throw new ConfigError(`${expected}, got ${describe(input)}; the unit "${m[2]}" is not one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB`);
  const bytes = Number(m[1]) * factor;
  if (!Number.isSafeInteger(Math.round(bytes))) throw new ConfigError(`${expected}, got ${describe(input)}; it is too large`);
  if (unit === "b" && !Number.isInteger(bytes))
    throw new ConfigError(`${expected}, got ${describe(input)}; a number of bytes must be whole`);
  return Math.round(bytes);
}

/** 1234567 → "1.2 MB" (decimal units, as parseSize reads them). For messages and summaries. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = "B";
  for (const u of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = u;
  }
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)} ${unit}`;
}

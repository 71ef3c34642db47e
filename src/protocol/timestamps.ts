import { ProtocolError } from "../errors.js";

/**
 * Celery timestamps. Celery writes naive ISO strings in UTC with 6 fractional digits
 * ("2026-11-24T02:04:40.124625") for date_done, and aware ones ("...+00:00") for eta/expires.
 * Python reads ".549Z" as 549 *micro*seconds, so Ebb always writes 6 digits.
 *
 * Instants are epoch milliseconds as numbers; a fraction of a millisecond carries Celery's
 * microseconds (a double holds them exactly enough to print the same 6 digits back).
 */

/** Epoch ms → "YYYY-MM-DDTHH:MM:SS.ffffff" (naive UTC, as Celery's date_done). */
export function toCeleryNaive(ms: number): string {
  let seconds = Math.floor(ms / 1000);
  let micros = Math.round((ms - seconds * 1000) * 1000);
  if (micros >= 1_000_000) {
    seconds += 1;
    micros -= 1_000_000;
  }
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${String(micros).padStart(6, "0")}`;
}

/** Epoch ms → "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (aware UTC, as Celery's eta/expires headers). */
export function toCeleryAware(ms: number): string {
  return `${toCeleryNaive(ms)}+00:00`;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parse an ISO timestamp as Celery writes it. Naive values are UTC (Celery's enable_utc=True
 * default). Fractions are read as fractions of a second, whatever their length, to the
 * microsecond. Out-of-range fields (Feb 30, hour 25) are rejected, not rolled over.
 */
export function parseCeleryTime(value: string, field: string): number {
  const m = ISO.exec(value.trim());
  const bad = () =>
    new ProtocolError(`Expected ${field} to be an ISO 8601 timestamp such as "2026-11-24T02:04:40.124625", got ${JSON.stringify(value)}`);
  if (!m) throw bad();
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const base = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(base);
  if (
    check.getUTCFullYear() !== y ||
    check.getUTCMonth() !== mo - 1 ||
    check.getUTCDate() !== d ||
    check.getUTCHours() !== h ||
    check.getUTCMinutes() !== mi ||
    check.getUTCSeconds() !== s
  ) {
    throw bad();
  }
  const micros = m[7] ? Math.round(Number(`0.${m[7]}`) * 1_000_000) : 0;
  let ms = base + micros / 1000;
  const zone = m[8];
  if (zone && zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return ms;
}

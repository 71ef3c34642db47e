import { ProtocolError } from "../errors.js";

/**
 * Celery timestamps. Celery writes naive ISO strings in UTC with 6 fractional digits
 * ("2026-11-24T02:04:40.124625") for date_done, and aware ones ("...+00:00") for eta/expires.
 * Python reads ".549Z" as 549 *micro*seconds, so Ebb always writes 6 digits.
 */

/** Epoch ms → "YYYY-MM-DDTHH:MM:SS.ffffff" (naive UTC, as Celery's date_done). */
export function toCeleryNaive(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000");
}

/** Epoch ms → "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (aware UTC, as Celery's eta/expires headers). */
export function toCeleryAware(ms: number): string {
  return `${toCeleryNaive(ms)}+00:00`;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parse an ISO timestamp as Celery writes it. Naive values are UTC (Celery's enable_utc=True
 * default). Fractions are read as fractions of a second, whatever their length. Returns epoch ms.
 */
export function parseCeleryTime(value: string, field: string): number {
  const m = ISO.exec(value.trim());
  if (!m) throw new ProtocolError(`Expected ${field} to be an ISO 8601 timestamp such as "2026-11-24T02:04:40.124625", got ${JSON.stringify(value)}`);
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const fracMs = frac ? Number(`0.${frac}`) * 1000 : 0;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) + fracMs;
  if (zone && zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  if (!Number.isFinite(ms)) throw new ProtocolError(`Expected ${field} to be a valid date, got ${JSON.stringify(value)}`);
  return Math.round(ms);
}

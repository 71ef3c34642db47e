import type { RetentionAction } from "../backends/result-backend.js";

/** A named retention policy: results of this tier live `expiresMs` after they are done, then `action` happens. */
export interface Tier {
  /** null = never expires. */
  expiresMs: number | null;
  action: RetentionAction;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The guide's Expiration Strategy Matrix as tiers. The guide gives ranges; each tier takes the
 * top of its range so nothing is dropped earlier than the guide allows. "compliance" and
 * "audit" archive before they delete; "critical" never expires.
 */
export const BUILTIN_TIERS: Readonly<Record<string, Tier>> = Object.freeze({
  realtime: { expiresMs: 15 * MINUTE, action: "delete" },
  api: { expiresMs: 6 * HOUR, action: "delete" },
  standard: { expiresMs: DAY, action: "delete" },
  audit: { expiresMs: 30 * DAY, action: "archive" },
  compliance: { expiresMs: 90 * DAY, action: "archive" },
  critical: { expiresMs: null, action: "archive" },
});

import type { RetentionAction } from "../result-backend.js";

/**
 * One ebb:results:info entry: a single decimal digit of flags followed by the tier name, e.g.
 * "1audit" (archive, tier audit), "2" (held, no tier), "4standard" (in progress, tier standard).
 * One byte of flags is the least a hash value can carry next to the tier; the tier is kept as text
 * rather than a number from a tier table so that an entry means the same thing whatever the app's
 * configuration is at read time. Tier names are non-empty (config rejects ""), so "" means none.
 *
 * The Lua scripts read and write the same digit; keep the bit values in step with scripts/*.lua.
 */
export const INFO_ARCHIVE = 1;
export const INFO_HELD = 2;
/** Not ready (STARTED/RETRY...): once its TTL removes it, the id reads unknown, not EXPIRED. */
export const INFO_IN_PROGRESS = 4;

export interface ResultInfo {
  tier: string | null;
  action: RetentionAction;
  held: boolean;
  inProgress: boolean;
}

export const DEFAULT_INFO: ResultInfo = { tier: null, action: "delete", held: false, inProgress: false };

/** The flags a store asks for; the hold bit is added by the store script, which alone knows it. */
export function storeFlags(action: RetentionAction, ready: boolean): number {
  return (action === "archive" ? INFO_ARCHIVE : 0) | (ready ? 0 : INFO_IN_PROGRESS);
}

export function decodeInfo(entry: string | null | undefined): ResultInfo {
  if (!entry) return DEFAULT_INFO;
  const flags = Number(entry[0]);
  return {
    tier: entry.length > 1 ? entry.slice(1) : null,
    action: flags & INFO_ARCHIVE ? "archive" : "delete",
    held: (flags & INFO_HELD) !== 0,
    inProgress: (flags & INFO_IN_PROGRESS) !== 0,
  };
}

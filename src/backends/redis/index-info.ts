import type { RetentionAction } from "../result-backend.js";

/**
 * One ebb:results:info entry: a single base-32 digit of flags (0-9, a-v) followed by the tier
 * name, e.g. "1audit" (archive, tier audit), "2" (held, no tier), "9audit" (archive, archived).
 * One byte of flags is the least a hash value can carry next to the tier; the tier is kept as text
 * rather than a number from a tier table so that an entry means the same thing whatever the app's
 * configuration is at read time. Tier names are non-empty (config rejects ""), so "" means none.
 * Flags 0-7 read the same in decimal, which is how entries were first written.
 *
 * The Lua scripts read and write the same digit; keep the bit values in step with scripts/includes/index-info.lua.
 */
export const INFO_ARCHIVE = 1;
export const INFO_HELD = 2;
/** Not ready (STARTED/RETRY...): once its TTL removes it, the id reads unknown, not EXPIRED. */
export const INFO_IN_PROGRESS = 4;
/** In a complete, verified archive (markArchived): an archive-tier result may then be cleaned. */
export const INFO_ARCHIVED = 8;
/** Python Celery wrote the value; Ebb indexed it only to hold it or mark it archived. */
export const INFO_FOREIGN = 16;

export interface ResultInfo {
  tier: string | null;
  action: RetentionAction;
  held: boolean;
  inProgress: boolean;
  archived: boolean;
  foreign: boolean;
}

export const DEFAULT_INFO: ResultInfo = { tier: null, action: "delete", held: false, inProgress: false, archived: false, foreign: false };

/** The flags a store asks for; the hold bit is added by the store script, which alone knows it. */
export function storeFlags(action: RetentionAction, ready: boolean): number {
  return (action === "archive" ? INFO_ARCHIVE : 0) | (ready ? 0 : INFO_IN_PROGRESS);
}

/** The digit for a set of flags (0..31). */
export function flagsDigit(flags: number): string {
  return flags.toString(32);
}

export function decodeInfo(entry: string | null | undefined): ResultInfo {
  if (!entry) return DEFAULT_INFO;
  const flags = parseInt(entry[0]!, 32) || 0;
  return {
    tier: entry.length > 1 ? entry.slice(1) : null,
    action: flags & INFO_ARCHIVE ? "archive" : "delete",
    held: (flags & INFO_HELD) !== 0,
    inProgress: (flags & INFO_IN_PROGRESS) !== 0,
    archived: (flags & INFO_ARCHIVED) !== 0,
    foreign: (flags & INFO_FOREIGN) !== 0,
  };
}

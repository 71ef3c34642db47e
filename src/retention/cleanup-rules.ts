import type { ResultRecord } from "../backends/retention-store.js";

/**
 * Whether cleanup may remove one result, and why not. Pure; shared by every store and by
 * --dry-run, so what a dry run reports is exactly what a real run removes.
 *
 * A result is removed when it is not held, and
 *  - it has expired (expiresAt <= now), or
 *  - olderThan was given and its dateDone <= now - olderThan, and it is allowed to expire
 *    (it has an expiresAt, or includePermanent was given);
 * except that a result whose action is "archive" is removed only once it has been archived.
 * The guide's script deleted keys with no TTL — the permanent results. Ebb never does, unless
 * told with includePermanent.
 */
export interface CleanupRules {
  now: number;
  /** --older-than / --days, in ms. */
  olderThanMs?: number;
  /** Only this tier (null = results without a tier). */
  tier?: string | null;
  includePermanent?: boolean;
}

export type CleanupVerdict = "remove" | "keep:held" | "keep:unexpired" | "keep:permanent" | "keep:needs-archive" | "keep:other-tier";

export function cleanupVerdict(r: ResultRecord, rules: CleanupRules): CleanupVerdict {
  if (rules.tier !== undefined && r.tier !== rules.tier) return "keep:other-tier";
  if (r.held) return "keep:held";
  const expired = r.expiresAt !== null && r.expiresAt <= rules.now;
  const old = rules.olderThanMs !== undefined && r.dateDone !== null && r.dateDone <= rules.now - rules.olderThanMs;
  if (!expired && !old) return "keep:unexpired";
  if (!expired && r.expiresAt === null && !rules.includePermanent) return "keep:permanent";
  if (r.action === "archive" && !r.archived) return "keep:needs-archive";
  return "remove";
}

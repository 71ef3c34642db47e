import type { Lookup, StoredResult } from "../backends/result-backend.js";
import { isReady, type StoredState } from "../states.js";

/**
 * What a read sees, given what the store holds. Pure, shared by every backend so they agree:
 *  - a held result never reads expired;
 *  - only a ready result (SUCCESS/FAILURE/REVOKED) reads EXPIRED once past expiresAt: a RETRY or
 *    STARTED record is still in progress, and its task will replace it;
 *  - a tombstone (left by cleanup) reads EXPIRED for graceMs after the expiry, then unknown.
 */
export function classifyRead(taskId: string, stored: StoredResult | undefined, tombstoneExpiredAt: number | undefined, now: number, graceMs: number): Lookup {
  if (stored) {
    if (stored.expiresAt !== null && stored.expiresAt <= now && !stored.held && isReady(stored.status)) {
      return { kind: "expired", taskId, expiredAt: stored.expiresAt };
    }
    return { kind: "found", result: stored };
  }
  if (tombstoneExpiredAt !== undefined && now < tombstoneExpiredAt + graceMs) return { kind: "expired", taskId, expiredAt: tombstoneExpiredAt };
  return { kind: "missing" };
}

/**
 * The instants a store stamps on a result it stores, from its own clock: a done result gets
 * dateDone = now; its lifetime counts from dateDone (from now for RETRY/STARTED, which have no
 * dateDone yet); null lifetime = never expires.
 */
export function stampsFor(status: StoredState, lifetimeMs: number | null, now: number): { dateDone: number | null; expiresAt: number | null } {
  const dateDone = isReady(status) ? now : null;
  return { dateDone, expiresAt: lifetimeMs === null ? null : (dateDone ?? now) + lifetimeMs };
}

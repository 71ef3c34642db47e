import type { Lookup, StoredResult } from "../backends/result-backend.js";
import type { ArchiveLocation } from "../backends/retention-store.js";

/** What a store remembers of a removed result: when it expired (or left the store, if earlier), and the archive that took it, if one did. */
export interface Tombstone {
  expiredAt: number;
  archived?: ArchiveLocation;
}
import { isReady, type StoredState } from "../states.js";

/**
 * What a read sees, given what the store holds. Pure, shared by every backend so they agree:
 *  - a held result never reads expired;
 *  - only a ready result (SUCCESS/FAILURE/REVOKED) reads EXPIRED once past expiresAt: a RETRY or
 *    STARTED record is still in progress, and its task will replace it;
 *  - a tombstone (left by cleanup or archive --delete) reads EXPIRED for graceMs after the expiry,
 *    then unknown; one left by an archive also says which archive file holds the result.
 */
export function classifyRead(
  taskId: string,
  stored: StoredResult | undefined,
  tombstone: Tombstone | undefined,
  now: number,
  graceMs: number,
): Lookup {
  if (stored) {
    if (stored.expiresAt !== null && stored.expiresAt <= now && !stored.held && isReady(stored.status)) {
      return { kind: "expired", taskId, expiredAt: stored.expiresAt };
    }
    return { kind: "found", result: stored };
  }
  if (tombstone !== undefined && now < tombstone.expiredAt + graceMs) {
    return {
      kind: "expired",
      taskId,
      expiredAt: tombstone.expiredAt,
      ...(tombstone.archived ? { archived: { ...tombstone.archived } } : {}),
    };
  }
  return { kind: "missing" };
}

/**
 * The instant a removed result is remembered by: its own expiry, or the removal (now) when it is
 * removed before it expires (archive --delete, cleanup --older-than) or never expires.
 */
export function tombstoneInstant(expiresAt: number | null, now: number): number {
  return expiresAt === null ? now : Math.min(expiresAt, now);
}

/**
 * The instants a store stamps on a result it stores, from its own clock: a done result gets
 * dateDone = now; its lifetime counts from dateDone (from now for RETRY/STARTED, which have no
 * dateDone yet); null lifetime = never expires.
 */
export function stampsFor(
  status: StoredState,
  lifetimeMs: number | null,
  now: number,
): { dateDone: number | null; expiresAt: number | null } {
  const dateDone = isReady(status) ? now : null;
  return { dateDone, expiresAt: lifetimeMs === null ? null : (dateDone ?? now) + lifetimeMs };
}

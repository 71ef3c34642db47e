import { decodeResultMeta } from "../../protocol/result-meta.js";
import type { Tombstone } from "../../retention/expiry.js";
import type { StoredResult } from "../result-backend.js";
import { decodeInfo } from "./index-info.js";

/** What one read of a result returns: the value and everything Ebb keeps beside it. */
export interface RawResult {
  /** celery-task-meta-<id>, null when absent. */
  value: string | null;
  /**
   * PTTL of the value: ms left, -1 no TTL, -2 absent. 0 and -2 beside a value are a key whose TTL
   * ran out while it was being read: Redis 7.0 answers PTTL 0 for a key that expires during a
   * script that already read it, and a pipeline may read the value just before the key goes.
   */
  pttl: number;
  /** ZSCORE in the ttl / no-ttl index ("inf" for never), null when not indexed there. */
  ttlScore: string | null;
  noTtlScore: string | null;
  /** The info entry, see index-info.ts. */
  info: string | null;
  /** The archived entry ("<tombstone>|<at>|<file>"), see result-keys.ts; absent where not read. */
  archived?: string | null;
}

/** Only -1 means "no TTL": a PTTL of 0 or -2 seen beside a value is a key that expired as it was read (now). */
export function ttlExpiry(pttl: number, now: number): number | null {
  return pttl === -1 ? null : now + Math.max(0, pttl);
}

/** A zset score as an expiry: "inf" (how Redis spells +inf) is never. */
function expiryFromScore(score: string): number | null {
  return score === "inf" || score === "+inf" ? null : Number(score);
}

/**
 * The StoredResult for a present value. An id Ebb indexed takes its expiry and tier from the index;
 * one only Python Celery wrote takes its expiry from the TTL Celery gave it, and has no tier.
 */
export function toStoredResult(raw: RawResult & { value: string }, key: string, now: number): StoredResult {
  const meta = decodeResultMeta(raw.value, key);
  const info = decodeInfo(raw.info);
  const score = raw.ttlScore ?? raw.noTtlScore;
  const expiresAt = score !== null ? expiryFromScore(score) : ttlExpiry(raw.pttl, now);
  const e = meta.extended;
  return {
    taskId: meta.taskId,
    status: meta.status,
    result: meta.result,
    traceback: meta.traceback,
    children: meta.children ?? [],
    dateDone: meta.dateDone,
    expiresAt,
    tier: info.tier,
    action: info.action,
    held: info.held,
    name: e?.name ?? null,
    args: e?.args ?? null,
    kwargs: e?.kwargs ?? null,
    worker: e?.worker ?? null,
    retries: e?.retries ?? null,
    queue: e?.queue ?? null,
  };
}

/**
 * For an absent value: when it expired, if the ttl index remembers it. Redis's TTL is the only
 * thing that removes an indexed value without removing its entry, so the entry's expiresAt is when
 * it went. A result that was still in progress (its task will store again) is not remembered.
 */
/**
 * When the value is gone, the ttl index says whether it expired. Redis removes a value at its
 * TTL, never earlier, so a value missing well before its expiry was deleted on purpose (a
 * Celery forget(), a DEL): that is unknown, not EXPIRED. One second of slack covers the gap
 * between Redis's expiry and the clock offset.
 */
export function tombstoneOf(raw: RawResult, now: number): Tombstone | undefined {
  if (raw.ttlScore === null || decodeInfo(raw.info).inProgress) return undefined;
  const at = expiryFromScore(raw.ttlScore);
  if (at === null || at > now + 1_000) return undefined;
  const archived = archiveOf(raw.archived ?? null, at);
  return archived ? { expiredAt: at, archived } : { expiredAt: at };
}

/** The archive location, if the entry belongs to this tombstone (a result stored again since has another). */
function archiveOf(entry: string | null, tombstone: number): Tombstone["archived"] | undefined {
  const m = entry === null ? null : /^([^|]*)\|(\d+)\|(.*)$/s.exec(entry);
  if (!m || Number(m[1]) !== tombstone) return undefined;
  return { file: m[3]!, at: Number(m[2]) };
}

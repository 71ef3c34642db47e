import type { Redis } from "ioredis";
import type { ResultRecord, ScanQuery } from "../retention-store.js";
import { decodeInfo } from "./index-info.js";
import { SCRIPTS } from "./scripts.js";
import type { ResultKeys } from "./result-keys.js";
import { toStoredResult, type RawResult } from "./stored-result.js";

/** What a scan needs from the backend: its connection, its keys, and the store clock. */
export interface ScanContext {
  client: Redis;
  keys: ResultKeys;
  now(): number;
  /**
   * Entries of the ttl index below this expiry are tombstones for sure: Redis's TTL has removed
   * their values, so a scan starts after them rather than reading a grace window's worth of
   * nothing. Only when the clock is Redis's own (null with an injected clock).
   */
  tombstonesBefore: number | null;
  /** Called for a value that is not Celery JSON: it is skipped, never removed. */
  unreadable(key: string): void;
}

/** COUNT for SCAN: keys Redis looks at per call, so each call stays short on a large keyspace. */
const SCAN_COUNT = 1000;

/**
 * Every result matching the query, each once, batch by batch:
 *  1. Ebb's results, from its two indexes (ttl, then no-ttl), paged by scan-index-1.lua up to
 *     expiresBy. Index entries whose value is gone are tombstones, not results: skipped.
 *  2. Results Python Celery wrote, and Ebb's default results (a compact record is their only index
 *     entry, see includes/expired-records.lua), which no index lists: SCAN MATCH celery-task-meta-*, then
 *     read-unindexed-2+.lua checks each key's index membership in the same call that reads its value,
 *     so an indexed key met again here is skipped (and its value not even read). Skipped entirely when no such result can match: a tier was asked for
 *     (Celery's results have none), or expiresBy <= now (a key with a TTL ends after now, and one
 *     without never expires; Redis drops expired keys itself).
 * A result that moves between the sources while the scan runs (a hold set or released) may be
 * seen twice or not at all in that scan; SCAN itself may repeat a key while Redis resizes its table.
 */
export async function* scanResults(ctx: ScanContext, query: ScanQuery): AsyncGenerator<ResultRecord[]> {
  const scanStartedAt = ctx.now();
  for (const index of ["ttl", "no-ttl"] as const) {
    for await (const page of indexPages(ctx, index, query)) {
      const batch = keep(await fetchIndexed(ctx, index, page), query);
      if (batch.length > 0) yield batch;
    }
  }
  // With Redis's own clock, a key with a TTL is gone once its expiry passes; an injected clock
  // (tests) may run ahead of Redis's, so nothing can be ruled out by time then.
  const foreignCanMatch =
    (query.tier === undefined || query.tier === null) &&
    (query.expiresBy === undefined || query.expiresBy > scanStartedAt || ctx.tombstonesBefore === null);
  if (!foreignCanMatch) return;
  for await (const keys of scanKeys(ctx.client, `${ctx.keys.everything.slice(0, -1)}celery-task-meta-*`)) {
    for (let i = 0; i < keys.length; i += query.batchSize) {
      const batch = keep(await fetchForeign(ctx, keys.slice(i, i + query.batchSize)), query);
      if (batch.length > 0) yield batch;
    }
  }
}

/** SCAN MATCH pattern, one reply's keys at a time (never KEYS). */
export async function* scanKeys(client: Redis, pattern: string): AsyncGenerator<string[]> {
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT);
    if (keys.length > 0) yield keys;
    cursor = next;
  } while (cursor !== "0");
}

async function* indexPages(ctx: ScanContext, index: "ttl" | "no-ttl", query: ScanQuery): AsyncGenerator<{ id: string; score: string }[]> {
  const key = index === "ttl" ? ctx.keys.ttlIndex : ctx.keys.noTtlIndex;
  const max = query.expiresBy === undefined ? "+inf" : String(query.expiresBy);
  const min = index === "ttl" && ctx.tombstonesBefore !== null ? String(ctx.tombstonesBefore) : "-inf";
  let after = { score: "", member: "" };
  for (;;) {
    const flat = (await SCRIPTS.scanIndex.run(ctx.client, [key], [after.score, after.member, max, query.batchSize, min])) as string[];
    const page: { id: string; score: string }[] = [];
    for (let i = 0; i < flat.length; i += 2) page.push({ id: flat[i]!, score: flat[i + 1]! });
    if (page.length > 0) yield page;
    if (page.length < query.batchSize) return;
    const last = page[page.length - 1]!;
    after = { score: last.score, member: last.id };
  }
}

async function fetchIndexed(ctx: ScanContext, index: "ttl" | "no-ttl", page: { id: string; score: string }[]): Promise<ResultRecord[]> {
  // Two commands for the page (MGET, HMGET): the index entry itself came with the page.
  const ids = page.map((p) => p.id);
  const [values, infos] = unwrap(
    await ctx.client
      .pipeline()
      .mget(ids.map((id) => ctx.keys.value(id)))
      .hmget(ctx.keys.info, ...ids)
      .exec(),
  ) as [(string | null)[], (string | null)[]];
  const now = ctx.now();
  const out: ResultRecord[] = [];
  page.forEach(({ id, score }, i) => {
    const value = values[i] ?? null;
    // No value: a tombstone (the id only reads EXPIRED), or removed since the page was read.
    if (value === null) return;
    const raw = {
      value,
      pttl: -1,
      ttlScore: index === "ttl" ? score : null,
      noTtlScore: index === "no-ttl" ? score : null,
      info: infos[i] ?? null,
    };
    const record = toRecord(ctx, raw, ctx.keys.value(id), now);
    if (record) out.push(record);
  });
  return out;
}

async function fetchForeign(ctx: ScanContext, keys: string[]): Promise<ResultRecord[]> {
  const ids = keys.map((key) => key.slice(ctx.keys.value("").length));
  const flat = (await SCRIPTS.readUnindexed.run(ctx.client, [ctx.keys.ttlIndex, ctx.keys.noTtlIndex, ...keys], ids)) as (
    | string
    | number
    | null
  )[];
  const now = ctx.now();
  const out: ResultRecord[] = [];
  keys.forEach((key, i) => {
    const value = flat[3 * i] as string | null;
    // Indexed: reported from the index already. Gone: expired or removed since SCAN saw it.
    if (value === null) return;
    // A default result of Ebb's has a compact record (its expiry) and no index entry.
    const recorded = flat[3 * i + 2] as number | null;
    const raw = {
      value,
      pttl: flat[3 * i + 1] as number,
      ttlScore: recorded === null ? null : String(recorded),
      noTtlScore: null,
      info: null,
    };
    const record = toRecord(ctx, raw, key, now);
    if (record) out.push(record);
  });
  return out;
}

function toRecord(ctx: ScanContext, raw: RawResult & { value: string }, key: string, now: number): ResultRecord | null {
  try {
    return recordOf(raw, key, now);
  } catch {
    ctx.unreadable(key);
    return null;
  }
}

/** The record for a present value. Throws ProtocolError when it is not Celery JSON. */
export function recordOf(raw: RawResult & { value: string }, key: string, now: number): ResultRecord {
  const info = decodeInfo(raw.info);
  const indexed = raw.ttlScore !== null || raw.noTtlScore !== null;
  // STRLEN of the value, without asking Redis again: the bytes were just read. Object.assign, not
  // a spread: a scan builds one record per result, and V8 copies a spread of this shape ~5x slower.
  const extra: Pick<ResultRecord, "bytes" | "origin" | "archived"> = {
    bytes: Buffer.byteLength(raw.value, "utf8"),
    origin: indexed && !info.foreign ? "ebb" : "celery",
    archived: info.archived,
  };
  return Object.assign(toStoredResult(raw, key, now), extra);
}

function keep(records: ResultRecord[], q: ScanQuery): ResultRecord[] {
  return records.filter(
    (r) =>
      (q.expiresBy === undefined || (r.expiresAt !== null && r.expiresAt <= q.expiresBy)) &&
      (q.doneBy === undefined || (r.dateDone !== null && r.dateDone <= q.doneBy)) &&
      (q.tier === undefined || r.tier === q.tier) &&
      (q.includeHeld === true || !r.held),
  );
}

export function unwrap(replies: [Error | null, unknown][] | null): unknown[] {
  if (!replies) throw new Error("Redis discarded a pipeline");
  return replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

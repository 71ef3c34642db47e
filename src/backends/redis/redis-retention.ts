import type { Redis } from "ioredis";
import { encodeResultMeta, extendedOf } from "../../protocol/result-meta.js";
import { toCeleryNaive } from "../../protocol/timestamps.js";
import { tombstoneInstant } from "../../retention/expiry.js";
import { isReady } from "../../states.js";
import type { StoredResult } from "../result-backend.js";
import type { RemoveOptions, RemoveOutcome, ResultRecord, ScanQuery, StoreFacts } from "../retention-store.js";
import { INFO_ARCHIVED, INFO_FOREIGN, INFO_HELD, storeFlags } from "./index-info.js";
import { SCRIPTS } from "./scripts.js";
import { readRaw } from "./result-commands.js";
import type { ResultKeys } from "./result-keys.js";
import { recordOf, scanResults } from "./retention-scan.js";
import { storeFacts } from "./store-facts.js";

/** Results per remove/mark script call: one call stays around a millisecond, so live commands interleave. */
const SCRIPT_BATCH = 500;

export interface RetentionContext {
  redis(): Redis;
  keys: ResultKeys;
  now(): number;
  /** True when now() is Redis's own clock (TIME), so TTLs and the index agree on what has gone. */
  serverClock: boolean;
}

/** Slack between the measured Redis clock and the instant Redis's TTL fires. */
const CLOCK_SLACK_MS = 5_000;

/**
 * RetentionStore on Redis (see retention-store.ts for the contract): the part of RedisBackend that
 * cleanup, archive, restore and stats use. Kept apart so the backend file stays about results.
 */
export class RedisRetention {
  /** Values met by scans that are not Celery JSON (skipped, never removed); storeFacts reports them. */
  private unreadable = 0;

  constructor(private readonly ctx: RetentionContext) {}

  scan(query: ScanQuery): AsyncIterable<ResultRecord[]> {
    if (!(Number.isInteger(query.batchSize) && query.batchSize > 0))
      throw new RangeError(`Expected batchSize to be a positive integer, got ${query.batchSize}`);
    const { keys, now } = this.ctx;
    const tombstonesBefore = this.ctx.serverClock ? now() - CLOCK_SLACK_MS : null;
    return scanResults({ client: this.ctx.redis(), keys, now, tombstonesBefore, unreadable: () => (this.unreadable += 1) }, query);
  }

  async read(taskId: string): Promise<ResultRecord | null> {
    // Only a stored value is read here, and it carries its own TTL: no need for its record.
    const raw = await readRaw(this.ctx.redis(), this.ctx.keys, taskId, false);
    if (raw.value === null) return null;
    return recordOf({ ...raw, value: raw.value }, this.ctx.keys.value(taskId), this.ctx.now());
  }

  async remove(records: readonly ResultRecord[], options: RemoveOptions): Promise<RemoveOutcome> {
    const outcome: RemoveOutcome = { removed: [], bytes: 0, kept: [] };
    const now = this.ctx.now();
    for (let i = 0; i < records.length; i += SCRIPT_BATCH) {
      const chunk = records.slice(i, i + SCRIPT_BATCH);
      const archive = options.remember && options.archive ? `${Math.round(options.archive.at)}|${options.archive.file}` : "";
      const args = [
        archive,
        ...chunk.flatMap((r) => [
          r.taskId,
          r.status,
          `${r.dateDone === null ? "" : toCeleryNaive(r.dateDone)}|${options.remember ? tombstone(r, now) : ""}`,
        ]),
      ];
      const flags = (await SCRIPTS.remove.run(
        this.ctx.redis(),
        [...this.indexKeys(), this.ctx.keys.archived, ...chunk.map((r) => this.ctx.keys.value(r.taskId))],
        args,
      )) as number[];
      chunk.forEach((r, j) => {
        if (flags[j] === 1) {
          outcome.removed.push(r.taskId);
          outcome.bytes += r.bytes;
        } else outcome.kept.push(r.taskId);
      });
    }
    return outcome;
  }

  async markArchived(taskIds: readonly string[]): Promise<number> {
    let marked = 0;
    for (let i = 0; i < taskIds.length; i += SCRIPT_BATCH) {
      const chunk = taskIds.slice(i, i + SCRIPT_BATCH);
      marked += Number(
        await SCRIPTS.markArchived.run(
          this.ctx.redis(),
          [...this.indexKeys(), ...chunk.map((id) => this.ctx.keys.value(id))],
          [this.ctx.now(), ...chunk],
        ),
      );
    }
    return marked;
  }

  /** Restore: the value as Celery's bytes, with the dateDone and expiresAt given (TTL = expiresAt - now, at least 1 ms). */
  async put(result: StoredResult, options: { replace: boolean }): Promise<boolean> {
    const record = result as Partial<ResultRecord> & StoredResult;
    const extended = extendedOf(result);
    const value = encodeResultMeta({
      taskId: result.taskId,
      status: result.status,
      result: result.result ?? null,
      traceback: result.traceback,
      children: result.children ?? [],
      dateDone: result.dateDone,
      // Values carry no extended fields unless result_extended was on (Celery's or Ebb's resultExtended): keep them as they were.
      ...(extended ? { extended } : {}),
    });
    const noTtl = result.expiresAt === null || result.action === "archive" || result.held;
    const ttlMs = noTtl ? "" : Math.max(1, Math.ceil(result.expiresAt! - this.ctx.now()));
    const flags =
      storeFlags(result.action, isReady(result.status)) |
      (result.held ? INFO_HELD : 0) |
      (record.archived ? INFO_ARCHIVED : 0) |
      (record.origin === "celery" ? INFO_FOREIGN : 0);
    const keys = this.ctx.keys;
    const written = await SCRIPTS.put.run(
      this.ctx.redis(),
      [keys.value(result.taskId), keys.ttlIndex, keys.noTtlIndex, keys.info],
      [
        result.taskId,
        value,
        keys.channel(result.taskId),
        result.expiresAt ?? "+inf",
        ttlMs,
        flags,
        result.tier ?? "",
        options.replace ? "1" : "0",
      ],
    );
    return written === 1;
  }

  storeFacts(): Promise<StoreFacts> {
    return storeFacts(this.ctx.redis(), this.ctx.keys, this.unreadable);
  }

  private indexKeys(): string[] {
    return [this.ctx.keys.ttlIndex, this.ctx.keys.noTtlIndex, this.ctx.keys.info];
  }
}

/**
 * The expiry a removed result is remembered by: its own, or now when it is removed before it
 * (--older-than, --include-permanent). A result still in progress is not remembered: its task will
 * store again, and until then it reads unknown, as when its TTL removes it.
 */
function tombstone(r: ResultRecord, now: number): string {
  if (!isReady(r.status)) return "";
  // Whole ms: the archived entry repeats this score, and is matched against ZSCORE's reply.
  return String(Math.floor(tombstoneInstant(r.expiresAt, now)));
}

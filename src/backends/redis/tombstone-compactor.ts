import type { Redis } from "ioredis";
import type { ResultKeys } from "./result-keys.js";
import { SCRIPTS } from "./scripts.js";
import { mergeShard, SHARDS, TAIL_MERGE_BYTES, tombstoneKeys } from "./tombstones.js";

export interface TombstoneCompactorOptions {
  redis(): Redis;
  keys: ResultKeys;
  prefix: string;
  /** Store clock, epoch ms. */
  now(): number;
  graceMs(): number;
  /** How long after its expiry an entry is moved out of the ttl index. */
  compactAfterMs: number;
  batch: number;
}

const ALL_SHARDS = Array.from({ length: SHARDS }, (_, i) => i.toString(16).padStart(2, "0"));
/** Every shard is merged (and so pruned of records past the grace window) at least this often. */
const FULL_MERGE_MS = 3_600_000;
const EMPTY = Buffer.alloc(0);

/**
 * Moves expired ids from the ttl index into the compact store (tombstones.ts), and keeps that
 * store sorted and pruned. Run by the index trimmer after each trim, so it needs no timer.
 */
export class TombstoneCompactor {
  #lastFullMerge = -Infinity;
  readonly #keys: ReturnType<typeof tombstoneKeys>;

  constructor(private readonly opts: TombstoneCompactorOptions) {
    this.#keys = tombstoneKeys(opts.prefix);
  }

  /** Move what is due, then merge the shards that need it; returns how many entries moved. */
  async run(): Promise<number> {
    const { keys, batch } = this.opts;
    const client = this.opts.redis();
    const ceiling = this.opts.now() - this.opts.compactAfterMs;
    const touched = new Set<string>();
    let moved = 0;
    for (;;) {
      const reply = (await SCRIPTS.compact.run(client, [keys.ttlIndex, keys.info, keys.archived], [ceiling, batch])) as (number | string)[];
      moved += Number(reply[0]);
      for (const shard of reply.slice(2)) touched.add(String(shard));
      if (Number(reply[0]) < batch) break;
    }
    const full = performance.now() - this.#lastFullMerge >= FULL_MERGE_MS;
    if (full) this.#lastFullMerge = performance.now();
    await this.#mergeWhereNeeded(full ? ALL_SHARDS : [...touched], full);
    return moved;
  }

  async #mergeWhereNeeded(shards: readonly string[], all: boolean): Promise<void> {
    if (shards.length === 0) return;
    const client = this.opts.redis();
    const pipeline = client.pipeline();
    for (const s of shards) pipeline.strlen(this.#keys.sorted(s)).strlen(this.#keys.tail(s));
    const lengths = ((await pipeline.exec()) ?? []).map(([e, v]) => {
      if (e) throw e;
      return Number(v);
    });
    for (let i = 0; i < shards.length; i++) {
      const [sorted, tail] = [lengths[2 * i]!, lengths[2 * i + 1]!];
      const due = all ? sorted + tail > 0 : tail >= Math.max(TAIL_MERGE_BYTES, sorted / 8);
      if (due) await this.merge(shards[i]!);
    }
  }

  /** Sort one shard's tail into its records, dropping those past the grace window; false when another process merged it first. */
  async merge(shard: string): Promise<boolean> {
    const client = this.opts.redis();
    const replies = await client
      .multi()
      .hget(this.#keys.generation, shard)
      .getBuffer(this.#keys.sorted(shard))
      .getBuffer(this.#keys.tail(shard))
      .exec();
    if (!replies) throw new Error(`The MULTI reading tombstone shard ${shard} was discarded`);
    const [gen, sorted, tail] = replies.map(([e, v]) => {
      if (e) throw e;
      return v;
    }) as [string | null, Buffer | null, Buffer | null];
    const merged = mergeShard(sorted ?? EMPTY, tail ?? EMPTY, this.opts.now() - this.opts.graceMs());
    const swapped = await SCRIPTS.swapTombstones.run(
      client,
      [this.#keys.sorted(shard), this.#keys.tail(shard), this.#keys.generation],
      [shard, gen ?? "", merged, (tail ?? EMPTY).length],
    );
    return swapped === 1;
  }
}

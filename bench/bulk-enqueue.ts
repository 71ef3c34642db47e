/**
 * Bulk enqueue on Redis: N no-op tasks through each system's bulk API, chunks of `chunkSize`
 * sent one after another (Ebb app.sendMany: one MULTI per chunk; BullMQ queue.addBulk: one
 * pipeline of addJob scripts per call), no worker running. Rounds alternate between systems;
 * FLUSHDB SYNC before each. The one-at-a-time rates are in the Redis table.
 */
import { Redis } from "ioredis";
import { fmt, median, printTable, ratio } from "./harness.js";
import { redisPeers } from "./redis-peers.js";
import { flush, refuseNonEmpty } from "./redis-stats.js";

export interface BulkOptions {
  url: string;
  n: number;
  rounds: number;
  concurrency: number;
  width: number;
  chunkSize: number;
}

export async function bulkEnqueue(o: BulkOptions): Promise<void> {
  const redis = new Redis(o.url);
  try {
    await refuseNonEmpty(redis, o.url);
    const peers = redisPeers(o.url, o).filter((p) => p.bulk);
    const rates = new Map<string, number[]>(peers.map((p) => [p.name, []]));
    for (let round = 1; round <= o.rounds; round++)
      for (const peer of peers) {
        await flush(redis);
        const rate = o.n / (await peer.bulk!.run(o.n));
        const queued = await redis.dbsize();
        if (queued === 0) throw new Error(`${peer.name}'s bulk enqueue left nothing in Redis`);
        rates.get(peer.name)!.push(rate);
        console.error(`bulk round ${round}/${o.rounds}, ${peer.name}: ${fmt(rate)}/s`);
      }
    const ebb = median(rates.get("Ebb")!);
    printTable(
      `Bulk enqueue on Redis: ${o.n.toLocaleString("en-US")} no-op tasks in chunks of ${o.chunkSize}, ${o.rounds} alternating round${o.rounds === 1 ? "" : "s"}, medians`,
      peers.map((p) => ({
        system: p.name,
        api: p.bulk!.api,
        "enqueue/s": fmt(median(rates.get(p.name)!)),
        "vs Ebb": ratio(median(rates.get(p.name)!), ebb),
      })),
      ["celery-node and Python Celery have no bulk enqueue."],
    );
  } finally {
    await flush(redis).catch(() => undefined);
    redis.disconnect();
  }
}

/**
 * What Redis keeps, per id, to remember that a result expired: Ebb stores N results that live
 * `lifetime` (the worker's app has resultExpires set; the default expiredGrace of 7 days applies),
 * then the worker idles while Redis expires the values. Once no celery-task-meta-* key is left
 * (SCAN every second; Redis expires actively and on access) the worker is stopped, and the
 * used_memory delta from the empty database before enqueue (Lua script cache left out, memory
 * settled) ÷ N is the cost of the grace window's tombstones; MEMORY USAGE summed over every key
 * left (SCAN) ÷ N shows where it is.
 * No Ebb key name is assumed beyond Celery's celery-task-meta-*.
 *
 * Then the records' error rate, measured through the API (AsyncResult.state()): a sample of the
 * stored ids must all read EXPIRED, and ids never stored (fresh UUIDs) read EXPIRED only on a
 * fingerprint collision, about N/2^56 a lookup (README, retention semantics).
 */
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { createApp, silentLogger } from "../src/index.js";
import { fixed, fmt, printTable, sleep, spawnReady } from "./harness.js";
import { clientsOnDb, countKeys, flush, keySpace, refuseNonEmpty, settledMemory, waitForClients } from "./redis-stats.js";
import { sendMany } from "./scale-curve.js";
import { drain } from "./worker-run.js";

export interface ExpiredOptions {
  url: string;
  n: number;
  lifetime: string;
  concurrency: number;
  chunkSize: number;
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export async function expiredMemory(o: ExpiredOptions): Promise<void> {
  const redis = new Redis(o.url);
  try {
    await refuseNonEmpty(redis, o.url);
    const clients = await clientsOnDb(redis);
    const before = await settledMemory(redis);
    const ids: string[] = [];
    await sendMany(o.url, o.n, o.chunkSize, ids);
    let waited = 0;
    const d = await drain(
      o.n,
      () =>
        spawnReady(process.execPath, [here("./peers/ebb-worker.js"), o.url, String(o.concurrency), String(o.n)], /^ready$/m, {
          EBB_BENCH_RESULT_EXPIRES: o.lifetime,
        }),
      redis,
      // The worker stays up (idle) while the values expire, as a deployed one would.
      async () => {
        const storedAt = performance.now();
        let left = await countKeys(redis, "celery-task-meta-*");
        while (left > 0) {
          if (performance.now() - storedAt > 300_000) throw new Error(`${left} of ${o.n} results had not expired after 300 s`);
          await sleep(1000);
          left = await countKeys(redis, "celery-task-meta-*");
        }
        waited = (performance.now() - storedAt) / 1000;
      },
    );
    await waitForClients(redis, clients);
    const after = await settledMemory(redis);
    const space = await keySpace(o.url);
    const reads = await recordReads(o.url, ids);
    printTable(
      `Redis bytes per expired id (Ebb): ${o.n.toLocaleString("en-US")} results with resultExpires "${o.lifetime}", measured once every value had expired (${fixed(waited, 0)} s after the last was stored, the worker up until then); goal ≤ 16 B`,
      [
        {
          results: o.n.toLocaleString("en-US"),
          "processed/s": fmt(d.perSecond),
          "used_memory B/expired id": fixed((after - before) / o.n),
          "MEMORY USAGE B/expired id": fixed(space.bytes / o.n),
          "other clients": String(d.redis!.company),
          "stored ids read EXPIRED": `${fmt(reads.stored.expired)} of ${fmt(reads.stored.of)}`,
          "never-stored ids read EXPIRED": `${fmt(reads.unknown.expired)} of ${fmt(reads.unknown.of)} (expected ${reads.expectedFalse.toExponential(1)})`,
          "keys left": `${space.keys}${space.keys > 0 ? ` (${space.sample.slice(0, 4).join(", ")}${space.keys > 4 ? ", …" : ""})` : ""}`,
        },
      ],
      [
        "used_memory: after every value expired minus before enqueue on the empty database, Lua script cache left out, both settled; ÷ N. It is server-wide; MEMORY USAGE counts this database's keys only.",
        "Other clients: of this Redis server, seen while the worker ran.",
        `Read EXPIRED: AsyncResult.state() after the memory was measured, for up to ${fmt(STORED_SAMPLE)} of the stored ids (all must read EXPIRED) and ${fmt(UNKNOWN_SAMPLE)} fresh UUIDs (a record whose 48-bit fingerprint matches in the id's shard: about N/2^56 a lookup, so the expected count is ${fmt(UNKNOWN_SAMPLE)} × N/2^56).`,
      ],
    );
  } finally {
    await flush(redis).catch(() => undefined);
    redis.disconnect();
  }
}

const STORED_SAMPLE = 20_000;
const UNKNOWN_SAMPLE = 100_000;
const READS_IN_FLIGHT = 200;

/** How many of a sample of the stored ids, and of ids never stored, read EXPIRED. */
async function recordReads(url: string, ids: readonly string[]) {
  const app = createApp({ broker: url, backend: url }, { log: silentLogger });
  const countExpired = async (sample: readonly string[]) => {
    let expired = 0;
    for (let i = 0; i < sample.length; i += READS_IN_FLIGHT) {
      const states = await Promise.all(sample.slice(i, i + READS_IN_FLIGHT).map((id) => app.asyncResult(id).state()));
      expired += states.filter((s) => s === "EXPIRED").length;
    }
    return { expired, of: sample.length };
  };
  try {
    const step = Math.max(1, Math.floor(ids.length / STORED_SAMPLE));
    const stored = await countExpired(ids.filter((_, i) => i % step === 0).slice(0, STORED_SAMPLE));
    const unknown = await countExpired(Array.from({ length: UNKNOWN_SAMPLE }, () => randomUUID()));
    return { stored, unknown, expectedFalse: (UNKNOWN_SAMPLE * ids.length) / 2 ** 56 };
  } finally {
    await app.close();
  }
}

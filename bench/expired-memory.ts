/**
 * What Redis keeps, per id, to remember that a result expired: Ebb stores N results that live
 * `lifetime` (the worker's app has resultExpires set; the default expiredGrace of 7 days applies),
 * then the worker idles while Redis expires the values. Once no celery-task-meta-* key is left
 * (SCAN every second; Redis expires actively and on access) the worker is stopped, and the
 * used_memory delta from the empty database before enqueue (Lua script cache left out, memory
 * settled) ÷ N is the cost of the grace window's tombstones; MEMORY USAGE summed over every key
 * left (SCAN) ÷ N shows where it is.
 * No Ebb key name is assumed beyond Celery's celery-task-meta-*.
 */
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
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
    await sendMany(o.url, o.n, o.chunkSize);
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
    printTable(
      `Redis bytes per expired id (Ebb): ${o.n.toLocaleString("en-US")} results with resultExpires "${o.lifetime}", measured once every value had expired (${fixed(waited, 0)} s after the last was stored, the worker up until then); goal ≤ 16 B`,
      [
        {
          results: o.n.toLocaleString("en-US"),
          "processed/s": fmt(d.perSecond),
          "used_memory B/expired id": fixed((after - before) / o.n),
          "MEMORY USAGE B/expired id": fixed(space.bytes / o.n),
          "other clients": String(d.redis!.company),
          "keys left": `${space.keys}${space.keys > 0 ? ` (${space.sample.slice(0, 4).join(", ")}${space.keys > 4 ? ", …" : ""})` : ""}`,
        },
      ],
      [
        "used_memory: after every value expired minus before enqueue on the empty database, Lua script cache left out, both settled; ÷ N. It is server-wide; MEMORY USAGE counts this database's keys only.",
        "Other clients: of this Redis server, seen while the worker ran.",
      ],
    );
  } finally {
    await flush(redis).catch(() => undefined);
    redis.disconnect();
  }
}

/**
 * `npm run bench`: Ebb against its peers on this machine, in one run. Uses Redis database 9 at
 * 127.0.0.1:6379 by default; it must be empty (the benchmark refuses one that holds keys, and
 * empties it between runs). Needs redis-benchmark (redis-tools) and Debian's python3-celery.
 *
 * Parts, selectable by name (`npm run bench -- redis sqlite`; none: all of them):
 *   redis           Ebb, BullMQ, celery-node, Python Celery on one Redis: enqueue/s, processed/s,
 *                   cost per task (CPU, commands, the redis-benchmark floor), memory per kept result
 *   bulk            bulk enqueue on Redis: Ebb app.sendMany vs BullMQ queue.addBulk
 *   sqlite          Ebb on SQLite vs plainjob: enqueue (one at a time, bulk) and processed/s
 *   scale           Ebb on Redis at N = 10k/100k/1M and at concurrency 1/10/50/200: rate, CPU, RSS
 *   expired-memory  Redis bytes Ebb keeps per expired id (the grace window's tombstones)
 *   throughput      all five above (the old name of the Redis comparison)
 *   postgres-cleanup     4M results, 1M expired, a live writer: Ebb's cleanup (partition drops)
 *                        against Celery's DELETE on celery_taskmeta: time, WAL, writer p99, dead tuples, size
 *   postgres-throughput  Ebb's PostgreSQL broker and backend against tuned graphile-worker and pg-boss
 *   postgres             both (needs PostgreSQL at EBB_BENCH_PG and Debian's python3-celery)
 *   cleanup, archive, memory (= memory-idle + memory-tasks): the SQLite retention benches
 * A run that includes all five throughput parts writes its tables to bench/results/latest.md; one of
 * both postgres parts alone writes bench/results/postgres.md.
 *
 *   EBB_BENCH_REDIS        Redis URL (default redis://127.0.0.1:6379/9)
 *   EBB_BENCH_N            tasks per run in redis, bulk and sqlite (default 20000)
 *   EBB_BENCH_ROUNDS       alternating rounds in redis, bulk and sqlite (default 3); tables show medians
 *   EBB_BENCH_CONCURRENCY  worker concurrency for every system (default 50)
 *   EBB_BENCH_IN_FLIGHT    one-at-a-time enqueue: calls in flight (default 200)
 *   EBB_BENCH_CHUNK        bulk enqueue: calls per chunk (default 1000)
 *   EBB_BENCH_SCALE_NS     scale: comma-separated N at EBB_BENCH_CONCURRENCY (default 10000,100000,1000000)
 *   EBB_BENCH_SCALE_CONCURRENCIES  scale: comma-separated concurrencies (default 1,10,50,200)
 *   EBB_BENCH_SCALE_CONCURRENCY_N  scale: N for the concurrency runs (default 20000); an empty list skips its half
 *   EBB_BENCH_EXPIRED_N    expired-memory: results stored (default 200000)
 *   EBB_BENCH_EXPIRED_LIFETIME     expired-memory: their resultExpires (default 2s)
 *   EBB_BENCH_WRITE        1: write bench/results/latest.md after any run; 0: never
 *   EBB_BENCH_PG           PostgreSQL database the postgres parts may fill, named ebb_bench* (default
 *                          postgresql://postgres@127.0.0.1:5432/ebb_bench_pg, created when missing; only its
 *                          schemas ebb_cleanup, celery_cleanup, ebb_peers, graphile_worker and pgboss are replaced)
 *   EBB_BENCH_PG_CLEANUP_N / EBB_BENCH_PG_CLEANUP_EXPIRED   postgres-cleanup sizes (default 4000000 / 1000000)
 *   EBB_BENCH_CLEANUP_N  expired results for the cleanup comparison (default 100000)
 *   EBB_BENCH_ARCHIVE_N  results for archive and restore (default 1000000)
 *   EBB_BENCH_IDLE_MS    how long the memory benchmark's worker idles (default 600000: 10 minutes)
 *   EBB_BENCH_IDLE_SAMPLE_MS  its sampling interval (default 60000)
 *   EBB_BENCH_TASKS      tasks the memory benchmark's busy worker runs (default 1000000)
 *   EBB_BENCH_IGNORE_RESULT=1  the busy worker's task ignores its results (nothing stored: the 1M-task run)
 *   EBB_BENCH_TASKS_SAMPLE    sample every this many tasks (default 100000)
 * A quick run: EBB_BENCH_N=2000 EBB_BENCH_ROUNDS=1 EBB_BENCH_SCALE_NS=10000 EBB_BENCH_SCALE_CONCURRENCIES=10,50
 * EBB_BENCH_SCALE_CONCURRENCY_N=5000 EBB_BENCH_EXPIRED_N=20000 npm run bench -- throughput
 * Numbers are noisy on shared machines: compare the ratios, and run twice.
 */
import { EventEmitter } from "node:events";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { archiveBench } from "./archive-throughput.js";
import { bulkEnqueue } from "./bulk-enqueue.js";
import { cleanupCompare } from "./cleanup-compare.js";
import { expiredMemory } from "./expired-memory.js";
import { printed, printTable } from "./harness.js";
import { writeLatest } from "./latest-md.js";
import { memoryRows, memoryRun } from "./memory.js";
import { postgresCleanup } from "./postgres-cleanup.js";
import { DEFAULT_PG_URL, postgresPeers, printPostgresPeers } from "./postgres-peers.js";
import { redisCompare } from "./redis-compare.js";
import { info } from "./redis-stats.js";
import { scaleCurve } from "./scale-curve.js";
import { sqliteCompare } from "./sqlite-peers.js";

// celery-node's client adds listeners to its Redis connection on every publish.
EventEmitter.defaultMaxListeners = 0;

const env = process.env;
// An empty list skips that half of the scale part.
const list = (v: string | undefined, fallback: number[]) => (v === undefined ? fallback : v.split(",").filter(Boolean).map(Number));
const url = env.EBB_BENCH_REDIS ?? "redis://127.0.0.1:6379/9";
const n = Number(env.EBB_BENCH_N ?? 20_000);
const rounds = Number(env.EBB_BENCH_ROUNDS ?? 3);
const concurrency = Number(env.EBB_BENCH_CONCURRENCY ?? 50);
const width = Number(env.EBB_BENCH_IN_FLIGHT ?? 200);
const chunkSize = Number(env.EBB_BENCH_CHUNK ?? 1000);
const scaleNs = list(env.EBB_BENCH_SCALE_NS, [10_000, 100_000, 1_000_000]);
const scaleConcurrencies = list(env.EBB_BENCH_SCALE_CONCURRENCIES, [1, 10, 50, 200]);
const scaleConcurrencyN = Number(env.EBB_BENCH_SCALE_CONCURRENCY_N ?? 20_000);
const expiredN = Number(env.EBB_BENCH_EXPIRED_N ?? 200_000);
const expiredLifetime = env.EBB_BENCH_EXPIRED_LIFETIME ?? "2s";
const cleanupN = Number(env.EBB_BENCH_CLEANUP_N ?? 100_000);
const archiveN = Number(env.EBB_BENCH_ARCHIVE_N ?? 1_000_000);
const idleMs = Number(env.EBB_BENCH_IDLE_MS ?? 600_000);
const idleSampleMs = Number(env.EBB_BENCH_IDLE_SAMPLE_MS ?? 60_000);
const tasks = Number(env.EBB_BENCH_TASKS ?? 1_000_000);
const tasksSample = Number(env.EBB_BENCH_TASKS_SAMPLE ?? 100_000);
const pgUrl = env.EBB_BENCH_PG ?? DEFAULT_PG_URL;
const pgCleanupN = Number(env.EBB_BENCH_PG_CLEANUP_N ?? 4_000_000);
const pgCleanupExpired = Number(env.EBB_BENCH_PG_CLEANUP_EXPIRED ?? 1_000_000);

const THROUGHPUT = ["redis", "bulk", "sqlite", "scale", "expired-memory"] as const;
const POSTGRES = ["postgres-cleanup", "postgres-throughput"] as const;
const PARTS = [...THROUGHPUT, ...POSTGRES, "cleanup", "archive", "memory-idle", "memory-tasks"] as const;
type Part = (typeof PARTS)[number];
const ALIASES: Record<string, readonly Part[]> = { throughput: THROUGHPUT, memory: ["memory-idle", "memory-tasks"], postgres: POSTGRES };

const named = process.argv.slice(2);
const unknown = named.filter((name) => !(PARTS as readonly string[]).includes(name) && !(name in ALIASES));
if (unknown.length > 0) {
  console.error(
    `Unknown benchmark ${unknown.map((u) => JSON.stringify(u)).join(", ")}; expected any of ${[...PARTS, ...Object.keys(ALIASES)].join(", ")} (none: all)`,
  );
  process.exit(64);
}
const chosen = new Set<Part>(named.length === 0 ? PARTS : named.flatMap((name) => ALIASES[name] ?? [name as Part]));
const runs = (part: Part) => chosen.has(part);

const startedAt = new Date();
const loadAtStart = loadavg();
const redisVersion = await redisServerVersion();
console.log(
  `Ebb benchmarks — node ${process.version}, ${startedAt.toISOString()}, Redis ${redisVersion ?? "?"}; parts: ${[...chosen].join(", ")}`,
);

const failed: string[] = [];
async function part(name: Part, fn: () => Promise<void> | void): Promise<void> {
  if (!runs(name)) return;
  const t = performance.now();
  try {
    await fn();
    console.error(`${name}: done in ${Math.round((performance.now() - t) / 1000)} s`);
  } catch (e) {
    failed.push(name);
    console.error(`\n${name} FAILED: ${(e as Error).stack ?? e}`);
  }
}

const common = { url, n, rounds, concurrency, width, chunkSize };
await part("redis", () => redisCompare(common));
await part("bulk", () => bulkEnqueue(common));
await part("sqlite", () => sqliteCompare({ n, rounds, concurrency, width, chunkSize }));
await part("scale", () =>
  scaleCurve({ url, ns: scaleNs, concurrency, concurrencies: scaleConcurrencies, concurrencyN: scaleConcurrencyN, chunkSize }),
);
await part("expired-memory", () => expiredMemory({ url, n: expiredN, lifetime: expiredLifetime, concurrency, chunkSize }));
// PostgreSQL, in the same run: cleanup first (it wants a quiet server), then throughput.
await part("postgres-cleanup", async () => {
  await postgresCleanup({ url: pgUrl, n: pgCleanupN, expired: pgCleanupExpired });
});
await part("postgres-throughput", async () => {
  const o = { n, rounds, concurrency, chunkSize, url: pgUrl };
  printPostgresPeers(await postgresPeers(o), o);
});
await part("cleanup", () =>
  printTable(
    `Cleanup of ${cleanupN} expired results among ${cleanupN} live ones on SQLite, a live writer storing every 1 ms`,
    cleanupCompare(cleanupN),
  ),
);
await part("archive", () =>
  printTable(
    `Archive and restore on SQLite, ${archiveN} results (each step in its own process; peak RSS per step)`,
    archiveBench(archiveN),
  ),
);
await part("memory-idle", async () => {
  const idle = await memoryRun("idle", idleMs, idleSampleMs, (s) => console.error(`memory idle, ${s.label}: heap ${s.heapMB} MB`));
  printTable(
    `Memory: an idle worker with beat on SQLite for ${idleMs / 60_000} min, heap after GC every ${idleSampleMs / 1000} s`,
    memoryRows(idle),
  );
});
await part("memory-tasks", async () => {
  const busy = await memoryRun("tasks", tasks, tasksSample, (s) => console.error(`memory tasks, ${s.label}: heap ${s.heapMB} MB`));
  printTable(
    `Memory: a worker with beat on SQLite running ${tasks.toLocaleString("en-US")} no-op tasks (${env.EBB_BENCH_IGNORE_RESULT === "1" ? "ignoreResult: nothing stored" : "results live 5 s"}, cleanup every 30 s), heap after GC every ${tasksSample.toLocaleString("en-US")} tasks; ${busy.tasksPerSecond ?? "?"} tasks/s`,
    memoryRows(busy),
  );
});

const seconds = (Date.now() - startedAt.getTime()) / 1000;
console.log(`\nTook ${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s.`);
if (failed.length > 0) {
  console.error(`Failed: ${failed.join(", ")}; bench/results/latest.md not written.`);
  process.exit(1);
}
const write = env.EBB_BENCH_WRITE === "1" || (env.EBB_BENCH_WRITE !== "0" && (THROUGHPUT.every(runs) || POSTGRES.every(runs)));
if (write) {
  // A PostgreSQL-only run keeps its own file, so it does not replace the Redis and SQLite tables.
  const file = THROUGHPUT.some(runs) ? "latest.md" : "postgres.md";
  const path = fileURLToPath(new URL(`../../bench/results/${file}`, import.meta.url));
  const command = `${Object.entries(env)
    .filter(([k]) => k.startsWith("EBB_BENCH_"))
    .map(([k, v]) => `${k}=${v} `)
    .join("")}npm run bench${named.length > 0 ? ` -- ${named.join(" ")}` : ""}`;
  writeLatest(
    path,
    {
      command,
      startedAt,
      loadAtStart,
      seconds,
      ...(redisVersion && THROUGHPUT.some(runs) ? { redisVersion } : {}),
      // Only the settings of the parts that ran.
      settings: (
        [
          ["Redis URL", url],
          [
            "redis, bulk, sqlite",
            `N ${n.toLocaleString("en-US")}, ${rounds} rounds, concurrency ${concurrency}, ${width} in flight, chunks of ${chunkSize}`,
          ],
          [
            "scale",
            `N ${scaleNs.map((x) => x.toLocaleString("en-US")).join(", ")} at concurrency ${concurrency}; concurrency ${scaleConcurrencies.join(", ")} at N ${scaleConcurrencyN.toLocaleString("en-US")}`,
          ],
          ["expired-memory", `N ${expiredN.toLocaleString("en-US")}, resultExpires ${expiredLifetime}`],
          [
            "postgres",
            `${pgUrl}; cleanup: ${pgCleanupExpired.toLocaleString("en-US")} expired of ${pgCleanupN.toLocaleString("en-US")}; throughput: N ${n.toLocaleString("en-US")}, ${rounds} rounds, concurrency ${concurrency}`,
          ],
        ] as Array<[string, string]>
      ).filter(([name]) => (name === "postgres" ? POSTGRES.some(runs) : THROUGHPUT.some(runs))),
    },
    printed,
  );
  console.log(`Tables written to ${path}`);
}
process.exit(0);

async function redisServerVersion(): Promise<string | undefined> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    return (await info(redis, "server")).get("redis_version");
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

/**
 * PostgreSQL job queues on one database (EBB_BENCH_PG, default ebb_bench_pg, created if missing),
 * N no-op jobs, `rounds` alternating rounds, medians. Each run resets the peer's own schema (dropped,
 * then installed again by the peer's own migration, before the clock starts), bulk-enqueues N jobs
 * with the peer's bulk API (timed: enqueue/s), runs ANALYZE (not timed; see postgresPeers), then
 * starts the peer's worker on the full queue and takes its bench-done line (timed inside the worker,
 * first handler call to N jobs whose completion the database acknowledged; worker CPU over the
 * same span; peers/done-report.ts):
 *   graphile-worker  workerUtils.addJobs, `chunkSize` jobs a call; run() with concurrentJobs C,
 *                    localQueue.size 500, completeJobBatchDelay/failJobBatchDelay 0, pool C + 2
 *                    (peers/graphile-worker.ts)
 *   pg-boss          boss.insert, `chunkSize` jobs a call; work() with batchSize min(C, 50),
 *                    localConcurrency C / batchSize, burstWhenBatchFull, pollingIntervalSeconds 0.5,
 *                    perJobResults (each job's output stored) (peers/pgboss-worker.ts)
 *   Ebb              app.sendMany, `chunkSize` calls a chunk; app.worker({ concurrency: C }) on one
 *                    postgresql:// URL (broker and backend, schema ebb_peers), results kept
 *                    (peers/ebb-worker.ts)
 * A peer is a PostgresPeer.
 *
 *   node dist/bench/postgres-peers.js   EBB_BENCH_N (20000), EBB_BENCH_CONCURRENCY (50),
 *                                       EBB_BENCH_ROUNDS (1), EBB_BENCH_CHUNK (1000), EBB_BENCH_PG
 */
import { fileURLToPath } from "node:url";
import { Logger, makeWorkerUtils } from "graphile-worker";
import pg from "pg";
import { PgBoss } from "pg-boss";
import { createApp, silentLogger } from "../src/index.js";
import { fixed, fmt, median, printTable, spawnReady, timed, type Child } from "./harness.js";
import { drain } from "./worker-run.js";

export const DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/ebb_bench_pg";

export interface PostgresOptions {
  n: number;
  concurrency: number;
  rounds: number;
  url: string;
  /** Jobs per bulk-enqueue call (default 1000). */
  chunkSize?: number;
}

export interface PostgresPeer {
  name: string;
  /** The settings the worker runs with, for the table. */
  settings: string;
  /** The schemas holding the peer's tables (analyzed after the enqueue). */
  schemas: string[];
  /** Drop the peer's schema and install it again, empty; not timed. */
  reset(): Promise<void>;
  /** Seconds to enqueue n no-op jobs with the peer's bulk API. */
  enqueue(n: number): Promise<number>;
  /** Start the worker on the full queue; it prints the bench-done line after n jobs. */
  worker(n: number): Promise<Child>;
}

export interface PostgresRow {
  name: string;
  settings: string;
  enqueuePerSec: number;
  processedPerSec: number;
  workerCpuUs: number;
  /** Dead tuples in the system's tables right after the run (pgstattuple, exact; autovacuum as the server has it). */
  deadTuples: number;
  /** Bytes of the system's tables (with indexes and TOAST) right after the run. */
  tableBytes: number;
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const EBB_SCHEMA = "ebb_peers";
const GRAPHILE_SCHEMA = "graphile_worker";
const PGBOSS_SCHEMA = "pgboss";
const PGBOSS_QUEUE = "bench";

/** Run fn on one connection to `url`. */
async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Create the benchmark's database if it does not exist (connecting to `postgres` on the same
 * server). The benches replace whole schemas in it (graphile_worker, pgboss, ...), so a database
 * whose name does not start with "ebb_bench" is refused: EBB_BENCH_PG must name a scratch database.
 */
export async function ensureDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!name.startsWith("ebb_bench"))
    throw new Error(
      `EBB_BENCH_PG names the database "${name}": the PostgreSQL benchmarks replace schemas in it, so they only run in a database whose name starts with "ebb_bench" (e.g. ebb_bench_pg, created when missing)`,
    );
  const admin = new URL(url);
  admin.pathname = "/postgres";
  await withClient(admin.toString(), async (c) => {
    const { rowCount } = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (!rowCount) await c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  });
}

const dropSchema = (url: string, schema: string) =>
  withClient(url, (c) => c.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`));

/** ANALYZE every table in `schemas` (not the whole database: other benchmarks may share it). */
async function analyze(url: string, schemas: string[]): Promise<void> {
  await withClient(url, async (c) => {
    const { rows } = await c.query<{ t: string }>(
      "SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname = ANY($1::text[])",
      [schemas],
    );
    for (const { t } of rows) await c.query(`ANALYZE ${t}`);
  });
}

/**
 * Dead tuples (pgstattuple: exact) and bytes of every table in `schemas`, partitions included.
 * The bench database is the benchmark's own: pgstattuple is created there when missing.
 */
async function tableFacts(url: string, schemas: string[]): Promise<{ dead: number; bytes: number }> {
  return withClient(url, async (c) => {
    await c.query("CREATE EXTENSION IF NOT EXISTS pgstattuple");
    const { rows } = await c.query<{ dead: string; bytes: string }>(
      `SELECT coalesce(sum((pgstattuple(c.oid)).dead_tuple_count), 0) AS dead, coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'r'`,
      [schemas],
    );
    return { dead: Number(rows[0]!.dead), bytes: Number(rows[0]!.bytes) };
  });
}

/** graphile-worker and pg-boss, tuned as their docs tune them for throughput. */
export function postgresPeerList(o: PostgresOptions): PostgresPeer[] {
  const chunkSize = o.chunkSize ?? 1000;
  const pgbossBatch = Math.min(o.concurrency, 50);
  const pgbossLocal = Math.max(1, Math.round(o.concurrency / pgbossBatch));
  const silent = new Logger(() => () => undefined);
  const graphileUtils = () => makeWorkerUtils({ connectionString: o.url, schema: GRAPHILE_SCHEMA, logger: silent });
  const pgboss = () => {
    // A producer: no supervision or cron in this process (the worker's instance runs them).
    const boss = new PgBoss({ connectionString: o.url, schema: PGBOSS_SCHEMA, supervise: false, schedule: false });
    boss.on("error", (e) => console.error(`pg-boss: ${e instanceof Error ? e.message : String(e)}`));
    return boss;
  };
  const ebbUrl = `${o.url}?schema=${EBB_SCHEMA}`;
  // Ebb's high-throughput setting (README): messages taken ahead, as graphile-worker's local queue of 500.
  const ebbPrefetch = Math.max(0, 500 - o.concurrency);
  const withEbb = async (fn: (app: ReturnType<typeof createApp>) => Promise<unknown>) => {
    const app = createApp({ broker: ebbUrl, backend: ebbUrl }, { log: silentLogger });
    try {
      await app.broker(); // connected and migrated before the clock starts
      return await timed(() => fn(app));
    } finally {
      await app.close();
    }
  };
  return [
    {
      name: "Ebb",
      schemas: [EBB_SCHEMA],
      settings: `app.worker({ concurrency: ${o.concurrency}, prefetch: ${ebbPrefetch} }) (${o.concurrency + ebbPrefetch} taken at most, as graphile-worker's local queue), results stored (24h, partitioned by hour), store and ack in one statement; sendMany ${chunkSize}/chunk`,
      reset: async () => {
        await dropSchema(o.url, EBB_SCHEMA);
        await withEbb(async () => undefined);
      },
      enqueue: (n) =>
        withEbb((app) =>
          app.sendMany(
            "bench.noop",
            range(n).map((i) => [i]),
            { chunkSize },
          ),
        ),
      worker: (n) =>
        spawnReady(process.execPath, [here("./peers/ebb-worker.js"), ebbUrl, String(o.concurrency), String(n)], /^ready$/m, {
          EBB_BENCH_PREFETCH: String(ebbPrefetch),
        }),
    },
    {
      name: "graphile-worker",
      schemas: [GRAPHILE_SCHEMA],
      settings: `concurrentJobs ${o.concurrency}, localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0, pool ${o.concurrency + 2}; addJobs ${chunkSize}/call`,
      reset: async () => {
        await dropSchema(o.url, GRAPHILE_SCHEMA);
        const utils = await graphileUtils();
        try {
          await utils.migrate();
        } finally {
          await utils.release();
        }
      },
      enqueue: async (n) => {
        const utils = await graphileUtils();
        try {
          await utils.migrate(); // already current: connects and prepares before the clock starts
          return await timed(async () => {
            for (let i = 0; i < n; i += chunkSize)
              await utils.addJobs(range(Math.min(chunkSize, n - i)).map((j) => ({ identifier: "bench_noop", payload: { i: i + j } })));
          });
        } finally {
          await utils.release();
        }
      },
      worker: (n) =>
        spawnReady(
          process.execPath,
          [here("./peers/graphile-worker.js"), o.url, GRAPHILE_SCHEMA, String(o.concurrency), String(n)],
          /^ready$/m,
        ),
    },
    {
      name: "pg-boss",
      schemas: [PGBOSS_SCHEMA],
      settings: `work() batchSize ${pgbossBatch}, localConcurrency ${pgbossLocal}, burstWhenBatchFull, pollingIntervalSeconds 0.5, perJobResults (outputs stored), pool ${Math.max(10, pgbossLocal + 4)}; insert ${chunkSize}/call`,
      reset: async () => {
        await dropSchema(o.url, PGBOSS_SCHEMA);
        const boss = pgboss();
        await boss.start(); // installs the schema
        try {
          await boss.createQueue(PGBOSS_QUEUE);
        } finally {
          await boss.stop({ graceful: false });
        }
      },
      enqueue: async (n) => {
        const boss = pgboss();
        await boss.start();
        try {
          return await timed(async () => {
            for (let i = 0; i < n; i += chunkSize)
              await boss.insert(
                PGBOSS_QUEUE,
                range(Math.min(chunkSize, n - i)).map((j) => ({ data: { i: i + j } })),
              );
          });
        } finally {
          await boss.stop({ graceful: false });
        }
      },
      worker: (n) =>
        spawnReady(
          process.execPath,
          [here("./peers/pgboss-worker.js"), o.url, PGBOSS_SCHEMA, String(n), String(pgbossBatch), String(pgbossLocal)],
          /^ready$/m,
        ),
    },
  ];
}

interface Run {
  enqueue: number;
  processed: number;
  workerCpuUs: number;
  dead: number;
  bytes: number;
}

/** Every peer, `rounds` alternating rounds; one row per peer with the medians. */
export async function postgresPeers(o: PostgresOptions, systems: PostgresPeer[] = postgresPeerList(o)): Promise<PostgresRow[]> {
  await ensureDatabase(o.url);
  const runs = new Map<string, Run[]>(systems.map((p) => [p.name, []]));
  for (let round = 1; round <= o.rounds; round++)
    for (const peer of systems) {
      await peer.reset();
      const enqueueSeconds = await peer.enqueue(o.n);
      // Planner statistics for the fresh tables, as autovacuum would have them on a queue in use
      // (its analyze waits for 1 minute and 10% of rows changed): without them pg-boss's fetch sorts
      // the whole backlog on every call (estimated 2 rows, read 20,000). Not timed.
      await analyze(o.url, peer.schemas);
      let facts = { dead: 0, bytes: 0 };
      // Taken at the done line, while the worker is still up (as it would be, consuming on).
      const d = await drain(
        o.n,
        () => peer.worker(o.n),
        undefined,
        async () => {
          facts = await tableFacts(o.url, peer.schemas);
        },
      );
      const run = { enqueue: o.n / enqueueSeconds, processed: d.perSecond, workerCpuUs: d.workerCpuUs, ...facts };
      runs.get(peer.name)!.push(run);
      console.error(
        `postgres round ${round}/${o.rounds}, ${peer.name}: enqueue ${fmt(run.enqueue)}/s, processed ${fmt(run.processed)}/s, worker CPU ${fmt(run.workerCpuUs)} µs/job, dead tuples after ${fmt(run.dead)}`,
      );
    }
  return systems.map((p) => {
    const med = (pick: (r: Run) => number) => median(runs.get(p.name)!.map(pick));
    return {
      name: p.name,
      settings: p.settings,
      enqueuePerSec: med((r) => r.enqueue),
      processedPerSec: med((r) => r.processed),
      workerCpuUs: med((r) => r.workerCpuUs),
      deadTuples: med((r) => r.dead),
      tableBytes: med((r) => r.bytes),
    };
  });
}

export function printPostgresPeers(rows: PostgresRow[], o?: Pick<PostgresOptions, "n" | "rounds">): void {
  const what = o
    ? `${o.n.toLocaleString("en-US")} no-op jobs, ${o.rounds} alternating round${o.rounds === 1 ? "" : "s"}, medians`
    : "no-op jobs, medians";
  printTable(
    `PostgreSQL (one database, each system in its own schema, reset before every run): ${what}`,
    rows.map((r) => ({
      system: r.name,
      "bulk enqueue/s": fmt(r.enqueuePerSec),
      "processed/s": fmt(r.processedPerSec),
      "worker CPU µs/job": fixed(r.workerCpuUs, 0),
      "dead tuples after": fmt(r.deadTuples),
      "tables after": `${fixed(r.tableBytes / 1e6, 1)} MB`,
      settings: r.settings,
    })),
    [
      "Processed: inside the worker, first handler call to N jobs whose completion statement the database acknowledged.",
      "Ebb keeps each result (24 h, Celery's default) and deletes the message; graphile-worker deletes a completed job and keeps no result; pg-boss keeps the completed job with its output (7 days by default).",
      "Dead tuples and table bytes: every table of the system's schema, partitions included, at the done line with the worker still up (pgstattuple, exact). Where autovacuum is off (as on this machine) Ebb's broker vacuums its queue table itself every 5,000 messages; the others leave theirs to autovacuum.",
    ],
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
  const o: PostgresOptions = {
    n: env("EBB_BENCH_N", 20_000),
    concurrency: env("EBB_BENCH_CONCURRENCY", 50),
    rounds: env("EBB_BENCH_ROUNDS", 1),
    chunkSize: env("EBB_BENCH_CHUNK", 1000),
    url: process.env.EBB_BENCH_PG ?? DEFAULT_PG_URL,
  };
  printPostgresPeers(await postgresPeers(o), o);
}

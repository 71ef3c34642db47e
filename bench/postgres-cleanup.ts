/**
 * Expiry on PostgreSQL: N results, EXPIRED of them past their expiry, while a live writer stores a
 * result every millisecond. Ebb's cleanup() (drop the expired partitions, then judge what is
 * left) against Celery's backend.cleanup() (one DELETE ... WHERE date_done < cutoff) on an equal
 * celery_taskmeta made by Celery's own models (bench/peers/celery_pg_cleanup.py). For each: the
 * time, the WAL it wrote (the writer's own WAL rate, measured idle, taken off), the writer's p99
 * during cleanup against idle, dead tuples left in the results table (pgstattuple, exact), and
 * the table's size afterwards.
 *
 * The expired results are those an hourly cleanup finds: their expiry times fill the hour that
 * has just ended (Ebb partitions results by hour of expiry). The others expire over the three
 * hours after the bench. 1,000 held and 1,000 permanent results are among them, and must survive.
 * Results that expire inside the current hour are not dropped but deleted in batches by
 * cleanup's scan; here that is one result per partition's edge.
 *
 *   node dist/bench/postgres-cleanup.js [N] [EXPIRED]      defaults 4000000 1000000
 *   EBB_BENCH_PG   a database the bench may fill (default postgresql://postgres@127.0.0.1:5432/ebb_bench_pg;
 *                  created when missing; only its schemas ebb_cleanup and celery_cleanup are replaced)
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import pg from "pg";
import { PostgresBackend } from "../src/backends/postgres/postgres-backend.js";
import type { StoredResult } from "../src/backends/result-backend.js";
import { cleanup } from "../src/retention/cleanup.js";
import { printTable } from "./harness.js";
import { ensureDatabase as ensureBenchDatabase } from "./postgres-peers.js";

const H = 3_600_000;
/** Concurrent store loops of the live writer (more samples for its p99). */
const WRITERS = 4;
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

if (!isMainThread) await writeLive(workerData.url as string);

/** The live writer, on its own connection pool in its own thread: WRITERS loops, each storing a result every ms, each store timed. */
async function writeLive(url: string): Promise<never> {
  const live = await new PostgresBackend({ url, poolMax: WRITERS }).connect();
  let stop = false;
  parentPort!.on("message", () => (stop = true));
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writeLoop(live, w, () => stop)));
  await live.close();
  process.exit(0);
}

async function writeLoop(live: PostgresBackend, w: number, stopped: () => boolean): Promise<void> {
  for (let k = 0; !stopped(); k++) {
    const at = performance.timeOrigin + performance.now();
    const t = performance.now();
    await live.store({
      taskId: `live-${w}-${k}-${Math.random()}`,
      status: "SUCCESS",
      result: { i: k },
      traceback: null,
      children: [],
      lifetimeMs: 3 * H,
      tier: null,
      action: "delete",
    });
    parentPort!.postMessage([at, performance.now() - t]);
    await new Promise((r) => setTimeout(r, 1));
  }
}

export interface CleanupOptions {
  url: string;
  n: number;
  expired: number;
}

interface Side {
  seconds: number;
  /** Ebb: of that, dropExpired() (the expired partitions detached); null for Celery. */
  dropMs: number | null;
  removed: number;
  walBytes: number;
  p99IdleMs: number;
  p99BusyMs: number;
  busySamples: number;
  /** Until the disk space of what was removed is back in the filesystem; null: never (dead tuples stay in the file). */
  reclaimedMs: number | null;
  deadTuples: number;
  tableBytes: number;
}

export async function postgresCleanup(o: CleanupOptions): Promise<Record<string, string>[]> {
  const admin = await ensureDatabase(o.url);
  try {
    await admin.query("CREATE EXTENSION IF NOT EXISTS pgstattuple");
    for (const s of ["ebb_cleanup", "celery_cleanup"]) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    const ebb = await ebbSide(o, admin);
    await admin.query("CREATE SCHEMA celery_cleanup");
    const celery = celerySide(o);
    const table = "celery_cleanup.celery_taskmeta";
    celery.deadTuples = Number((await admin.query(`SELECT dead_tuple_count FROM pgstattuple('${table}')`)).rows[0].dead_tuple_count);
    celery.tableBytes = Number((await admin.query(`SELECT pg_total_relation_size('${table}') AS b`)).rows[0].b);
    const rows = [row("Ebb (drop partitions)", ebb), row("Celery (backend.cleanup: one DELETE)", celery)];
    printTable(
      `Cleanup on PostgreSQL: ${o.expired.toLocaleString("en-US")} expired of ${o.n.toLocaleString("en-US")} results, a live writer storing every ms`,
      rows,
      [
        `Ebb: ${(celery.seconds / ebb.seconds).toFixed(0)}x faster, ${(celery.walBytes / Math.max(1, ebb.walBytes)).toFixed(0)}x less WAL; ` +
          `the writer's p99 during cleanup is ${(ebb.p99BusyMs / ebb.p99IdleMs).toFixed(2)}x its idle p99 (Celery: ${(celery.p99BusyMs / celery.p99IdleMs).toFixed(2)}x)`,
        "time: the whole cleanup, until every expired result is gone from the table (Ebb: cleanup(), which first detaches the expired partitions (dropExpired), then pages through what it must still judge: the held results and the current hour's expired one; Celery: its DELETE committed).",
        "Ebb's drops of the detached partitions run in the background, a hash part at a time: 'disk space back' is when the last one finished (the filesystem's discard of the files is most of it). Celery's DELETE leaves dead tuples; its file never shrinks without VACUUM FULL.",
        "WAL: bytes written from the start of cleanup to the drops' end, less what the writer writes in that time (its idle rate). Dead tuples: pgstattuple over every partition.",
      ],
    );
    return rows;
  } finally {
    await admin.end();
  }
}

function row(system: string, s: Side): Record<string, string> {
  return {
    system,
    removed: s.removed.toLocaleString("en-US"),
    time: s.seconds < 1 ? `${(s.seconds * 1000).toFixed(0)} ms` : `${s.seconds.toFixed(2)} s`,
    "of which expired partitions": s.dropMs === null ? "-" : `${s.dropMs.toFixed(0)} ms`,
    WAL: mb(s.walBytes),
    "writer p99 idle": `${s.p99IdleMs.toFixed(2)} ms`,
    "p99 during": `${s.p99BusyMs.toFixed(2)} ms (${s.busySamples} writes)`,
    "during / idle": `${(s.p99BusyMs / s.p99IdleMs).toFixed(2)}x`,
    "dead tuples after": s.deadTuples.toLocaleString("en-US"),
    "disk space back": s.reclaimedMs === null ? "never (VACUUM FULL)" : `after ${s.reclaimedMs.toFixed(0)} ms`,
    "table after": mb(s.tableBytes),
  };
}

function mb(bytes: number): string {
  return bytes < 1_000_000 ? `${(bytes / 1000).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Connect to the bench database, created when missing (and refused unless it is a scratch one). */
async function ensureDatabase(url: string): Promise<pg.Client> {
  await ensureBenchDatabase(url);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  return admin;
}

async function ebbSide(o: CleanupOptions, admin: pg.Client): Promise<Side> {
  const url = `${o.url}?schema=ebb_cleanup&partition=hour`;
  const store = await new PostgresBackend({ url }).connect();
  try {
    const now = await store.now();
    const hour = Math.floor(now / H) * H;
    // One result per hour of expiry, through put(): it makes each partition as Ebb does.
    for (let at = hour - H; at < now + 4 * H; at += H) await store.put(sample(`edge-${at}`, at + 1, now), { replace: false });
    const seedStart = performance.now();
    const insert = (from: number, to: number, count: number) =>
      admin.query(
        `INSERT INTO ebb_cleanup.ebb_results (task_id, lane, status, result, children, date_done, expires_at, tier, action, name, worker, retries, queue)
         SELECT gen_random_uuid()::text, 0, 'SUCCESS', '{"i": ' || g || '}', '[]', e - 86400000, e, NULL, 'delete', 'bench.noop', 'bench@host', 0, 'celery'
           FROM generate_series(1, $3::bigint) g, LATERAL (SELECT ($1::bigint + (g - 1) * ($2::bigint - $1::bigint) / $3::bigint) AS e) x`,
        [from, to, count],
      );
    await insert(hour - H, hour, o.expired);
    // Not due before the bench ends (seeding takes minutes): what cleanup meets in the current hour is its one edge result.
    await insert(now + 15 * 60_000, now + 3 * H, o.n - o.expired - 2_000);
    // Held (expired, but held) and permanent: they must survive.
    await admin.query(
      `INSERT INTO ebb_cleanup.ebb_results (task_id, lane, status, result, children, date_done, expires_at, action, held, name)
       SELECT 'held-' || g, 2, 'SUCCESS', '1', '[]', $1::bigint - 2 * ${H}, CASE WHEN g <= 1000 THEN $1::bigint - ${H} END, 'delete', g <= 1000, 'bench.keep'
         FROM generate_series(1, 2000) g`,
      [hour],
    );
    // What store() writes beside each expiring result.
    await admin.query(
      `INSERT INTO ebb_cleanup.ebb_expiry_ledger SELECT hashtextextended(task_id, 0), expires_at FROM ebb_cleanup.ebb_results WHERE lane < 2`,
    );
    await admin.query("VACUUM ANALYZE ebb_cleanup.ebb_results");
    await admin.query("VACUUM ANALYZE ebb_cleanup.ebb_expiry_ledger");
    await admin.query("CHECKPOINT");
    console.log(`ebb: seeded ${o.n.toLocaleString("en-US")} results in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

    const writer = liveWriter(url);
    await writer.ready;
    const lsn = async () => (await admin.query("SELECT pg_current_wal_lsn()::text AS l")).rows[0].l as string;
    const walBetween = async (a: string, b: string) =>
      Number((await admin.query("SELECT pg_wal_lsn_diff($2, $1)::bigint AS d", [a, b])).rows[0].d);
    const idleFrom = performance.timeOrigin + performance.now();
    const idleLsn = await lsn();
    await new Promise((r) => setTimeout(r, 2_000));
    const idleTo = performance.timeOrigin + performance.now();
    const idleWal = await walBetween(idleLsn, await lsn());
    // The store's pool is warm, as in a worker whose beat runs cleanup (its connections closed while seeding).
    await store.now();
    if (process.env.EBB_BENCH_TRACE) traceQueries(store);
    // How long the expired partitions take to go (dropExpired, the first step of cleanup).
    let dropMs: number | null = null;
    const dropExpired = store.dropExpired.bind(store);
    store.dropExpired = async (before: number) => {
      const t = performance.now();
      try {
        return await dropExpired(before);
      } finally {
        dropMs = performance.now() - t;
      }
    };
    const a = await lsn();
    const start = performance.timeOrigin + performance.now();
    const report = await cleanup(store);
    const end = performance.timeOrigin + performance.now();
    await store.reclaimed();
    const reclaimedMs = performance.timeOrigin + performance.now() - start;
    const b = await lsn();
    await new Promise((r) => setTimeout(r, 100));
    await writer.stop();
    const seconds = (end - start) / 1000;
    // "During cleanup" runs until the background drops are done: they are cleanup's work too.
    const busy = writer.window(start, start + reclaimedMs);
    if (process.env.EBB_BENCH_TRACE)
      for (const [at, ms] of writer.samples(start - 50, start + reclaimedMs + 50))
        if (ms > 2 * p99(writer.window(idleFrom, idleTo)))
          console.log(`  slow write at +${(at - start).toFixed(0)} ms: ${ms.toFixed(1)} ms`);
    const survivors = Number((await admin.query("SELECT count(*) AS n FROM ebb_cleanup.ebb_results WHERE name = 'bench.keep'")).rows[0].n);
    if (survivors !== 2000) throw new Error(`held and permanent results: ${survivors} of 2000 survived cleanup`);
    const dead = await admin.query(
      `SELECT coalesce(sum((pgstattuple(relid)).dead_tuple_count), 0) AS d, coalesce(sum(pg_total_relation_size(relid)), 0) AS b
         FROM pg_partition_tree('ebb_cleanup.ebb_results') WHERE isleaf`,
    );
    if (dropMs === null) throw new Error("Ebb's cleanup() never called dropExpired(): the table would show a drop time it did not measure");
    return {
      seconds,
      dropMs,
      removed: report.deleted,
      walBytes: Math.max(0, (await walBetween(a, b)) - (idleWal * seconds * 1000) / (idleTo - idleFrom)),
      p99IdleMs: p99(writer.window(idleFrom, idleTo)),
      p99BusyMs: p99(busy),
      busySamples: busy.length,
      reclaimedMs,
      deadTuples: Number(dead.rows[0].d),
      tableBytes: Number(dead.rows[0].b),
    };
  } finally {
    await store.close();
  }
}

function celerySide(o: CleanupOptions): Side {
  const out = execFileSync(
    "/usr/bin/python3",
    [here("../../bench/peers/celery_pg_cleanup.py"), o.url, "celery_cleanup", String(o.n), String(o.expired)],
    {
      encoding: "utf8",
      maxBuffer: 1 << 24,
    },
  );
  const r = JSON.parse(out.trim().split("\n").pop()!) as {
    seconds: number;
    deleted: number;
    p99_idle_ms: number;
    p99_busy_ms: number;
    busy_samples: number;
    wal_bytes: number;
    idle_wal_bytes: number;
    idle_seconds: number;
  };
  return {
    seconds: r.seconds,
    dropMs: null,
    removed: r.deleted,
    walBytes: Math.max(0, r.wal_bytes - (r.idle_wal_bytes * r.seconds) / r.idle_seconds),
    p99IdleMs: r.p99_idle_ms,
    p99BusyMs: r.p99_busy_ms,
    busySamples: r.busy_samples,
    reclaimedMs: null,
    deadTuples: 0,
    tableBytes: 0,
  };
}

function sample(taskId: string, expiresAt: number, now: number): StoredResult {
  return {
    taskId,
    status: "SUCCESS",
    result: 1,
    traceback: null,
    children: [],
    dateDone: now,
    expiresAt,
    tier: null,
    action: "delete",
    held: false,
  };
}

/** The live writer's samples: [start instant (epoch ms), latency ms]. */
function liveWriter(url: string) {
  const worker = new Worker(new URL(import.meta.url), { workerData: { url } });
  const samples: Array<[number, number]> = [];
  let first: () => void;
  const ready = new Promise<void>((resolve) => (first = resolve));
  worker.on("message", (s: [number, number]) => {
    samples.push(s);
    if (samples.length === 50) first();
  });
  return {
    ready,
    /** Every store whose time overlaps [from, to], one that started before and waited included. */
    window: (from: number, to: number) => samples.filter(([at, ms]) => at <= to && at + ms >= from).map(([, ms]) => ms),
    samples: (from: number, to: number) => samples.filter(([at, ms]) => at <= to && at + ms >= from),
    stop: async () => {
      worker.postMessage("stop");
      await new Promise((resolve) => worker.once("exit", resolve));
    },
  };
}

/** EBB_BENCH_TRACE=1: each statement the store runs, with its time (to see where cleanup spends it). */
let traceStart = 0;
function traceQueries(store: PostgresBackend): void {
  traceStart = performance.timeOrigin + performance.now();
  const pool = (store as unknown as { pg: Record<string, (...args: unknown[]) => Promise<unknown>> }).pg;
  for (const method of ["query", "simple"]) {
    const original = pool[method]!.bind(pool);
    pool[method] = async (...args: unknown[]) => {
      const t = performance.now();
      try {
        return await original(...args);
      } finally {
        const end = performance.timeOrigin + performance.now();
        console.log(
          `  [${(end - traceStart).toFixed(0)}] ${(performance.now() - t).toFixed(1).padStart(7)} ms  ${String(args[0]).replace(/\s+/g, " ").slice(0, 100)}`,
        );
      }
    };
  }
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  const url = process.env.EBB_BENCH_PG ?? "postgresql://postgres@127.0.0.1:5432/ebb_bench_pg";
  await postgresCleanup({ url, n: Number(process.argv[2] ?? 4_000_000), expired: Number(process.argv[3] ?? 1_000_000) });
}

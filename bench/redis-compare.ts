/**
 * Ebb, BullMQ, celery-node and Python Celery on one Redis (bench/redis-peers.ts), N no-op tasks
 * with results kept, in alternating rounds (round 1: every system, round 2: every system, ...).
 * Each run: FLUSHDB SYNC, enqueue N one call at a time with the system's own client (no worker
 * running), then start its worker and let it drain the queue. Tables show medians and ratios to Ebb:
 *   rates   enqueue/s; processed/s from the worker's first handler call to its N-th task stored
 *           and acked, measured inside the worker process (nothing polls Redis meanwhile)
 *   cost    worker CPU per task over that same span (/proc/PID/stat); Redis CPU (INFO cpu) and
 *           commands (INFO commandstats, scripts' inner calls included) from just before the worker
 *           is spawned to its done line; the floor = redis-benchmark ops/s ÷ commands per task
 *   memory  after the worker has stopped and its connections are gone: the used_memory delta from
 *           the empty database before enqueue (Lua script cache left out), and MEMORY USAGE summed
 *           over every key in the database (SCAN, after the timed window), each ÷ N
 */
import { Redis } from "ioredis";
import { fixed, fmt, median, printTable, ratio } from "./harness.js";
import { redisFloor, type RedisFloor } from "./redis-cost.js";
import { CELERY_POOL, redisPeers, type RedisPeer } from "./redis-peers.js";
import { clientsOnDb, flush, keySpace, refuseNonEmpty, usedMemory, waitForClients } from "./redis-stats.js";
import { drain } from "./worker-run.js";

export interface RedisCompareOptions {
  url: string;
  n: number;
  rounds: number;
  concurrency: number;
  width: number;
  chunkSize: number;
}

interface Run {
  enqueue: number;
  processed: number;
  workerCpuUs: number;
  redisCpuUs: number;
  commands: number;
  scripts: number;
  usedBytes: number;
  keyBytes: number;
  keys: number;
  maxRssMB: number;
  topCommands: [string, number][];
  /** Other clients of the server seen in the timed window (RedisCost.company). */
  company: number;
}

export async function redisCompare(o: RedisCompareOptions): Promise<void> {
  const redis = new Redis(o.url);
  try {
    await refuseNonEmpty(redis, o.url);
    const floor = await redisFloor(redis, o.url);
    const peers = redisPeers(o.url, o);
    const runs = new Map<string, Run[]>(peers.map((p) => [p.name, []]));
    for (let round = 1; round <= o.rounds; round++)
      for (const peer of peers) {
        const run = await runOnce(redis, peer, o);
        runs.get(peer.name)!.push(run);
        console.error(
          `redis round ${round}/${o.rounds}, ${peer.name}: enqueue ${fmt(run.enqueue)}/s, processed ${fmt(run.processed)}/s, ${fixed(run.commands, 2)} commands/task`,
        );
      }
    report(o, peers, runs, floor);
  } finally {
    await flush(redis).catch(() => undefined);
    redis.disconnect();
  }
}

async function runOnce(redis: Redis, peer: RedisPeer, o: RedisCompareOptions): Promise<Run> {
  await flush(redis);
  const clients = await clientsOnDb(redis);
  const memoryBefore = await usedMemory(redis);
  const enqueueSeconds = await peer.enqueue(o.n);
  const d = await drain(o.n, () => peer.worker(o.n), redis);
  await waitForClients(redis, clients);
  const memoryAfter = await usedMemory(redis);
  const space = await keySpace(o.url, [peer.resultKeys]);
  const kept = space.matching.get(peer.resultKeys)!;
  if (kept !== o.n) throw new Error(`${peer.name} kept ${kept} results (${peer.resultKeys}) of ${o.n}`);
  const cost = d.redis!;
  return {
    enqueue: o.n / enqueueSeconds,
    processed: d.perSecond,
    workerCpuUs: d.workerCpuUs,
    redisCpuUs: (cost.cpuSeconds * 1e6) / o.n,
    commands: cost.commands / o.n,
    scripts: cost.scripts / o.n,
    usedBytes: (memoryAfter - memoryBefore) / o.n,
    keyBytes: space.bytes / o.n,
    keys: space.keys / o.n,
    maxRssMB: d.maxRssMB,
    topCommands: cost.byCommand.slice(0, 6).map(([c, calls]) => [c, calls / o.n]),
    company: cost.company,
  };
}

function report(o: RedisCompareOptions, peers: RedisPeer[], runs: Map<string, Run[]>, floor: RedisFloor): void {
  const med = (name: string, pick: (r: Run) => number) => median(runs.get(name)!.map(pick));
  // Server-wide counters: another client of the same server can only add to them, so the lowest round is the truest.
  const low = (name: string, pick: (r: Run) => number) => Math.min(...runs.get(name)!.map(pick));
  const shared = peers
    .map((p) => [p.name, runs.get(p.name)!.filter((r) => r.company > 0).length] as const)
    .filter(([, k]) => k > 0)
    .map(([name, k]) => `${name} ${k} of ${o.rounds}`);
  const ebb = (pick: (r: Run) => number) => med("Ebb", pick);
  const setup = `${o.n.toLocaleString("en-US")} no-op tasks, results kept, concurrency ${o.concurrency} (Python Celery --pool ${CELERY_POOL} --concurrency ${o.concurrency}; celery-node has no such setting), ${o.rounds} alternating round${o.rounds === 1 ? "" : "s"}, medians`;
  printTable(
    `Redis: ${setup}`,
    peers.map((p) => ({
      system: p.name,
      [`enqueue/s (1 at a time, ${o.width} in flight)`]: fmt(med(p.name, (r) => r.enqueue)),
      "vs Ebb": ratio(
        med(p.name, (r) => r.enqueue),
        ebb((r) => r.enqueue),
      ),
      "processed/s": fmt(med(p.name, (r) => r.processed)),
      "vs Ebb ": ratio(
        med(p.name, (r) => r.processed),
        ebb((r) => r.processed),
      ),
    })),
    [
      "Processed/s: from the worker's first handler call to its N-th task stored and acked, timed inside the worker.",
      "Python Celery's client is synchronous (one publish in flight), and its send_task also subscribes to each result's channel.",
    ],
  );
  printTable(
    `Redis: cost per task (same runs; CPU and commands: the lowest round); floor = ${fmt(floor.opsPerSecond)} ops/s (${floor.command}, mean of ${Object.entries(
      floor.byTest,
    )
      .map(([t, v]) => `${t} ${fmt(v)}`)
      .join(", ")}) ÷ commands/task`,
    peers.map((p) => ({
      system: p.name,
      "worker CPU µs/task": fmt(med(p.name, (r) => r.workerCpuUs)),
      "Redis CPU µs/task": fixed(low(p.name, (r) => r.redisCpuUs)),
      "commands/task": fixed(
        low(p.name, (r) => r.commands),
        2,
      ),
      "scripts/task": fixed(
        low(p.name, (r) => r.scripts),
        2,
      ),
      "floor tasks/s": fmt(floor.opsPerSecond / low(p.name, (r) => r.commands)),
      "processed/s": fmt(med(p.name, (r) => r.processed)),
      "of floor": `${fixed((100 * med(p.name, (r) => r.processed)) / (floor.opsPerSecond / low(p.name, (r) => r.commands)))}%`,
    })),
    [
      "Worker CPU (median): utime+stime of the worker process (/proc/PID/stat) from its first handler call to done.",
      "Redis CPU (used_cpu_sys+used_cpu_user) and commands (INFO commandstats; a script's redis.call()s count as commands too) from just before the worker is spawned to done; both are server-wide, so the table takes the lowest round.",
      `Timed windows that other clients of this Redis server shared (their commands and CPU count in the server-wide figures): ${shared.length > 0 ? shared.join(", ") : "none"}.`,
      ...peers.map((p) => {
        const quietest = runs.get(p.name)!.reduce((a, b) => (b.commands < a.commands ? b : a));
        return `${p.name}, commands per task in its lowest round: ${quietest.topCommands.map(([c, k]) => `${c} ${fixed(k, 2)}`).join(", ")}`;
      }),
    ],
  );
  printTable(
    "Redis: memory per kept result (same runs, medians)",
    peers.map((p) => ({
      system: p.name,
      "used_memory B/result": fmt(med(p.name, (r) => r.usedBytes)),
      "MEMORY USAGE B/result": fmt(med(p.name, (r) => r.keyBytes)),
      "keys/result": fixed(
        med(p.name, (r) => r.keys),
        3,
      ),
      "worker max RSS MB": fixed(med(p.name, (r) => r.maxRssMB)),
    })),
    [
      "used_memory: after the worker stopped and its connections closed, minus before enqueue on the empty database, Lua script cache left out; ÷ N. Server-wide: other clients' keys in other databases move it too.",
      "MEMORY USAGE: SAMPLES 0 summed over every key in the database (SCAN), whatever the system created; ÷ N.",
      "Worker max RSS: VmHWM of the worker process when done.",
    ],
  );
}

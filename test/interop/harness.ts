import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { describe, vi } from "vitest";
import { createApp, type App } from "../../src/app.js";
import { silentLogger, streamLogger, type Logger } from "../../src/logger.js";
import type { Worker } from "../../src/worker/worker.js";
import { ebb, type RunResult } from "../e2e/cli-harness.js";
import { SERVICES, describeWithService } from "../support/services.js";

/**
 * Shared harness of the interop suites: Ebb and a real Python Celery 5.2.6 (Debian's
 * python3-celery, always /usr/bin/python3, never the pyenv python3 on PATH) on one Redis. Each
 * suite owns one Redis database number (Python Celery has no key prefix) and FLUSHDBs only that.
 */
export const PY = "/usr/bin/python3";
export const PY_DIR = fileURLToPath(new URL("./python/", import.meta.url));
const { host, port } = SERVICES.redis;

/** Databases owned by the interop suites; flushDb refuses any other. */
const OWN_DBS = new Set([11, 12, 13, 14]);

export const redisUrl = (db: number): string => `redis://${host}:${port}/${db}`;

let pythonProbe: { ok: boolean; reason: string } | undefined;

/** Whether /usr/bin/python3 can import celery and redis (asked once per test file). */
export function pythonCelery(): { ok: boolean; reason: string } {
  if (!pythonProbe) {
    const r = spawnSync(PY, ["-c", "import celery, redis; print(celery.__version__)"], { encoding: "utf8", timeout: 20_000 });
    pythonProbe =
      r.status === 0
        ? { ok: true, reason: `celery ${r.stdout.trim()}` }
        : { ok: false, reason: `${PY} cannot import celery and redis (${r.error?.message ?? r.stderr.trim().split("\n").pop() ?? "no output"}); install python3-celery and python3-redis` };
  }
  return pythonProbe;
}

/**
 * describe() for a suite that needs Redis and Python Celery. Without Python Celery it is skipped
 * with a printed reason, except under CI=true, where it fails; Redis is handled by describeWithService.
 * Tests in it get 60 s and hooks 90 s (waits inside are bounded by their own, shorter timeouts).
 */
export async function describeInterop(title: string, body: () => void): Promise<void> {
  // Each Python process costs ~0.4 s, several seconds on a loaded 2-core machine: bounded, but generous.
  vi.setConfig({ testTimeout: 60_000, hookTimeout: 90_000 });
  const py = pythonCelery();
  if (!py.ok) {
    if (process.env.CI) throw new Error(`${title}: ${py.reason}. CI=true, so this fails instead of being skipped`);
    process.stderr.write(`[ebb tests] SKIPPED "${title}": ${py.reason}\n`);
    describe.skip(`${title} (skipped: no Python Celery)`, body);
    return;
  }
  await describeWithService("redis", title, body);
}

/** A plain client on one of the suites' own databases. */
export function redisOn(db: number): Redis {
  return new Redis({ host, port, db, lazyConnect: false, maxRetriesPerRequest: 2 });
}

export async function flushDb(client: Redis, db: number): Promise<void> {
  if (!OWN_DBS.has(db)) throw new Error(`Refusing to FLUSHDB ${db}: the interop suites own only ${[...OWN_DBS].join(", ")}`);
  await client.select(db);
  await client.flushdb();
}

const children = new Set<ChildProcess>();
// Nothing outlives the test process, even when a suite forgets to stop what it started.
process.once("exit", () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

function pyEnv(db: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", LANG: "C.UTF-8", PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1", INTEROP_BROKER_URL: redisUrl(db), ...extra };
}

/** Run test/interop/python/client.py (a real Celery client); throws on a crash, with its stderr. */
export function pyClient(db: number, args: string[], timeoutMs = 40_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PY, ["client.py", ...args], { cwd: PY_DIR, env: pyEnv(db), stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve(stdout);
      else reject(new Error(`client.py ${args.join(" ")} ${signal ? `was killed (${signal}) after ${timeoutMs} ms` : `exited ${code}`}\n${stderr}`));
    });
  });
}

/** What client.py prints for get/state/call: Celery's own view of a result. */
export interface PyResult {
  id: string;
  state: string;
  ready: boolean;
  timed_out: boolean;
  result: unknown;
  exception: { class: string; module: string; args: unknown[] } | null;
  date_done: string | null;
}

export async function pySend(db: number, task: string, ...flags: string[]): Promise<string[]> {
  return (await pyClient(db, ["send", task, ...flags])).trim().split("\n").filter(Boolean);
}

/** One send_task of a batch (client.py batch): Celery's own option names. */
export interface PySendItem {
  task: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  countdown?: number;
  expires?: number;
  priority?: number;
  ignore_result?: boolean;
  task_id?: string;
  queue?: string;
}

/** Several send_task calls from one Python process (each process costs ~0.4 s or more under load). */
export async function pyBatch(db: number, items: PySendItem[]): Promise<string[]> {
  return (await pyClient(db, ["batch", JSON.stringify(items)])).trim().split("\n").filter(Boolean);
}

export async function pyGetMany(db: number, ids: string[], timeoutS = 25): Promise<PyResult[]> {
  const out = await pyClient(db, ["get", ...ids, "--timeout", String(timeoutS)], (timeoutS + 15) * 1000);
  return out.trim().split("\n").map((line) => JSON.parse(line) as PyResult);
}

export async function pyGet(db: number, id: string, timeoutS = 25): Promise<PyResult> {
  return (await pyGetMany(db, [id], timeoutS))[0]!;
}

export async function pyCall(db: number, task: string, ...flags: string[]): Promise<PyResult> {
  return JSON.parse(await pyClient(db, ["call", task, "--timeout", "25", ...flags])) as PyResult;
}

/** A real `celery worker` (solo pool) on the suite's database, with tasks from python/interop_tasks.py. */
export interface PythonWorker {
  log: () => string;
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
  stop: () => Promise<void>;
}

export async function startPythonWorker(db: number, env: NodeJS.ProcessEnv = {}): Promise<PythonWorker> {
  const args = ["-m", "celery", "-A", "interop_tasks", "worker", "--pool=solo", "--concurrency=1", "-Q", "celery", "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "info", "-n", `interop-${db}@%h`];
  const child = spawn(PY, args, { cwd: PY_DIR, env: pyEnv(db, env), stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let log = "";
  const listeners = new Set<() => void>();
  const append = (d: Buffer) => {
    log += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on("data", append);
  child.stderr!.on("data", append);
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  void exited.then(() => {
    children.delete(child);
    for (const l of listeners) l();
  });

  const waitFor = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = log.match(pattern);
        if (m) return done(() => resolve(m));
        if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`The Python worker exited before its log matched ${pattern}:\n${log}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${pattern} in the Python worker's log:\n${log}`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(killer);
  };

  const worker = { log: () => log, waitFor, stop };
  await waitFor(/\S+@\S+ ready\./).catch(async (e: unknown) => {
    await stop();
    throw e;
  });
  return worker;
}

/** An Ebb app on the suite's database, and in-process workers for it; stopAll() ends them and the app. */
export interface EbbSide {
  app: App;
  startWorker: (concurrency: number) => Promise<Worker>;
  stopWorkers: () => Promise<void>;
  close: () => Promise<void>;
}

export function ebbSide(db: number, register: (app: App) => void = () => undefined, log: Logger = process.env.INTEROP_VERBOSE ? streamLogger() : silentLogger): EbbSide {
  const app = createApp({ broker: redisUrl(db), backend: redisUrl(db) }, { log });
  register(app);
  const running: { worker: Worker; done: Promise<void> }[] = [];
  const stopWorkers = async () => {
    await Promise.all(running.splice(0).map(async ({ worker, done }) => {
      await worker.stop();
      await done;
    }));
  };
  return {
    app,
    async startWorker(concurrency) {
      const worker = await app.worker({ concurrency, fetchWaitMs: 500 });
      running.push({ worker, done: worker.start() });
      return worker;
    },
    stopWorkers,
    async close() {
      await stopWorkers();
      await app.close();
    },
  };
}

/** The built `ebb` CLI on the suite's database (no app module: --broker/--backend URLs). */
export async function ebbCli(db: number, args: string[]): Promise<RunResult & { json: Record<string, unknown> | null }> {
  const r = await ebb([...args, "--broker", redisUrl(db), "--backend", redisUrl(db), "--json"], { timeoutMs: 40_000 });
  let json: Record<string, unknown> | null = null;
  try {
    json = r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : null;
  } catch {
    throw new Error(`ebb ${args.join(" ")} printed no JSON (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return { ...r, json };
}

export { eventually } from "../e2e/cli-harness.js";

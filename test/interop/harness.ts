import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, vi } from "vitest";
import { createApp, type App } from "../../src/app.js";
import { silentLogger, streamLogger, type Logger } from "../../src/logger.js";
import type { Worker } from "../../src/worker/worker.js";
import { ebb, eventually, type RunResult } from "../e2e/cli-harness.js";
import { RedisServer } from "../support/redis-server.js";

/**
 * Shared harness of the interop suites: Ebb and a real Python Celery 5.2.6 (Debian's
 * python3-celery, always /usr/bin/python3, never the pyenv python3 on PATH) on one Redis. Python
 * Celery has no key prefix, so each suite gets a redis-server of its own on a free port (about
 * 70 ms to start, next to ~0.4 s per Python process), db 0, removed afterwards: two runs at
 * once never meet, and nothing on the machine's own Redis is read, written or flushed. Every
 * Python process it starts exits when the test process dies (python/parent_watch.py), and
 * afterAll kills any still running.
 */
export const PY = "/usr/bin/python3";
export const PY_DIR = fileURLToPath(new URL("./python/", import.meta.url));

/** The suite's own redis-server: its URL (for Ebb and Python alike) and a plain client. Set in beforeAll. */
export interface InteropRedis {
  readonly url: string;
  readonly client: Redis;
}

let pythonProbe: { ok: boolean; reason: string } | undefined;

/** Whether /usr/bin/python3 can import celery and redis (asked once per test file). */
export function pythonCelery(): { ok: boolean; reason: string } {
  if (!pythonProbe) {
    const r = spawnSync(PY, ["-c", "import celery, redis; print(celery.__version__)"], { encoding: "utf8", timeout: 20_000 });
    pythonProbe =
      r.status === 0
        ? { ok: true, reason: `celery ${r.stdout.trim()}` }
        : {
            ok: false,
            reason: `${PY} cannot import celery and redis (${r.error?.message ?? r.stderr.trim().split("\n").pop() ?? "no output"}); install python3-celery and python3-redis`,
          };
  }
  return pythonProbe;
}

let redisProbe: { ok: boolean; reason: string } | undefined;

/** Whether redis-server can be started (asked once per test file). */
function redisServerBinary(): { ok: boolean; reason: string } {
  if (!redisProbe) {
    const r = spawnSync("redis-server", ["--version"], { encoding: "utf8", timeout: 10_000 });
    redisProbe =
      r.status === 0
        ? { ok: true, reason: r.stdout.trim() }
        : { ok: false, reason: `redis-server is not on PATH (${r.error?.message ?? r.stderr.trim()}); install redis-server` };
  }
  return redisProbe;
}

/**
 * describe() for a suite that needs Python Celery and a redis-server of its own (started in
 * beforeAll, destroyed in afterAll; body gets it). Without either it is skipped with a printed
 * reason, except under CI=true, where it fails. Tests in it get 60 s and hooks 90 s (waits
 * inside are bounded by their own, shorter timeouts).
 */
export async function describeInterop(title: string, body: (redis: InteropRedis) => void): Promise<void> {
  // Each Python process costs ~0.4 s, several seconds on a loaded 2-core machine: bounded, but generous.
  vi.setConfig({ testTimeout: 60_000, hookTimeout: 90_000 });
  for (const probe of [pythonCelery(), redisServerBinary()]) {
    if (probe.ok) continue;
    if (process.env.CI) throw new Error(`${title}: ${probe.reason}. CI=true, so this fails instead of being skipped`);
    process.stderr.write(`[ebb tests] SKIPPED "${title}": ${probe.reason}\n`);
    describe.skip(`${title} (skipped: ${probe.reason})`, () => body(notStarted));
    return;
  }
  describe(title, () => {
    let server: RedisServer | undefined;
    let client: Redis | undefined;
    const redis: InteropRedis = {
      get url() {
        if (!server)
          throw new Error("The interop redis-server is not started yet: use redis.url inside hooks and tests, not at collection time");
        return server.url();
      },
      get client() {
        if (!client)
          throw new Error("The interop redis-server is not started yet: use redis.client inside hooks and tests, not at collection time");
        return client;
      },
    };
    // Registered before the suite's own hooks: beforeAll runs first, afterAll last.
    beforeAll(async () => {
      server = await RedisServer.start({ persist: false });
      client = server.client();
    });
    afterAll(async () => {
      await killChildren();
      client?.disconnect();
      await server?.destroy();
    });
    body(redis);
  });
}

const notStarted: InteropRedis = {
  get url(): string {
    throw new Error("skipped suite: no redis-server");
  },
  get client(): Redis {
    throw new Error("skipped suite: no redis-server");
  },
};

const children = new Set<ChildProcess>();
// Nothing outlives the test process, even when a suite forgets to stop what it started (and
// when the process is killed outright, parent_watch.py ends them).
process.once("exit", () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

/** SIGKILL every Python process still running and wait until each has exited (afterAll). */
async function killChildren(): Promise<void> {
  await Promise.all(
    [...children].map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGKILL");
      await exited;
    }),
  );
  children.clear();
}

export function pyEnv(url: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    LANG: "C.UTF-8",
    PYTHONUNBUFFERED: "1",
    PYTHONDONTWRITEBYTECODE: "1",
    INTEROP_BROKER_URL: url,
    // parent_watch.py: exit when this process is gone.
    EBB_TEST_PARENT_PID: String(process.pid),
    ...extra,
  };
}

/** Run test/interop/python/client.py (a real Celery client); throws on a crash, with its stderr. */
export function pyClient(url: string, args: string[], timeoutMs = 40_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PY, ["client.py", ...args], { cwd: PY_DIR, env: pyEnv(url), stdio: ["ignore", "pipe", "pipe"] });
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
      else
        reject(
          new Error(`client.py ${args.join(" ")} ${signal ? `was killed (${signal}) after ${timeoutMs} ms` : `exited ${code}`}\n${stderr}`),
        );
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

export async function pySend(url: string, task: string, ...flags: string[]): Promise<string[]> {
  return (await pyClient(url, ["send", task, ...flags])).trim().split("\n").filter(Boolean);
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
export async function pyBatch(url: string, items: PySendItem[]): Promise<string[]> {
  return (await pyClient(url, ["batch", JSON.stringify(items)])).trim().split("\n").filter(Boolean);
}

export async function pyGetMany(url: string, ids: string[], timeoutS = 25): Promise<PyResult[]> {
  const out = await pyClient(url, ["get", ...ids, "--timeout", String(timeoutS)], (timeoutS + 15) * 1000);
  return out
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as PyResult);
}

export async function pyGet(url: string, id: string, timeoutS = 25): Promise<PyResult> {
  return (await pyGetMany(url, [id], timeoutS))[0]!;
}

export async function pyCall(url: string, task: string, ...flags: string[]): Promise<PyResult> {
  return JSON.parse(await pyClient(url, ["call", task, "--timeout", "25", ...flags])) as PyResult;
}

/**
 * A real `celery worker` (solo pool) on the suite's redis-server, with tasks from
 * python/interop_tasks.py. `extraArgs` go last and win over the defaults (e.g. "--pool=prefork",
 * which time limits need: the solo pool does not enforce them).
 */
export interface PythonWorker {
  log: () => string;
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
  stop: () => Promise<void>;
}

export async function startPythonWorker(url: string, env: NodeJS.ProcessEnv = {}, extraArgs: string[] = []): Promise<PythonWorker> {
  const args = [
    "-m",
    "celery",
    "-A",
    "interop_tasks",
    "worker",
    "--pool=solo",
    "--concurrency=1",
    "-Q",
    "celery",
    "--without-heartbeat",
    "--without-mingle",
    "--without-gossip",
    "-l",
    "info",
    "-n",
    `interop-${process.pid}@%h`,
    ...extraArgs,
  ];
  const child = spawn(PY, args, { cwd: PY_DIR, env: pyEnv(url, env), stdio: ["ignore", "pipe", "pipe"] });
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
        if (child.exitCode !== null || child.signalCode !== null)
          done(() => reject(new Error(`The Python worker exited before its log matched ${pattern}:\n${log}`)));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${pattern} in the Python worker's log:\n${log}`))),
        timeoutMs,
      );
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

/** An Ebb app on the suite's redis-server, and in-process workers for it; stopAll() ends them and the app. */
export interface EbbSide {
  app: App;
  startWorker: (concurrency: number) => Promise<Worker>;
  stopWorkers: () => Promise<void>;
  close: () => Promise<void>;
}

export function ebbSide(
  url: string,
  register: (app: App) => void = () => undefined,
  log: Logger = process.env.INTEROP_VERBOSE ? streamLogger() : silentLogger,
): EbbSide {
  const app = createApp({ broker: url, backend: url }, { log });
  register(app);
  const running: { worker: Worker; done: Promise<void> }[] = [];
  const stopWorkers = async () => {
    await Promise.all(
      running.splice(0).map(async ({ worker, done }) => {
        await worker.stop();
        await done;
      }),
    );
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

/** The built `ebb` CLI on the suite's redis-server (no app module: --broker/--backend URLs). */
export async function ebbCli(url: string, args: string[]): Promise<RunResult & { json: Record<string, unknown> | null }> {
  const r = await ebb([...args, "--broker", url, "--backend", url, "--json"], { timeoutMs: 40_000 });
  let json: Record<string, unknown> | null = null;
  try {
    json = r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : null;
  } catch {
    throw new Error(`ebb ${args.join(" ")} printed no JSON (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return { ...r, json };
}

export { eventually };

/**
 * Wait until a message sent no later than `sentBy` (epoch ms, this machine's clock) with an
 * expiry of `expiresMs` has expired by every clock on this machine (Python's, Redis's, ours),
 * with 250 ms to spare for Ebb's measured offset to Redis's clock.
 */
export async function pastExpiry(sentBy: number, expiresMs: number): Promise<void> {
  const at = sentBy + expiresMs + 250;
  await eventually(
    () => (Date.now() > at ? true : undefined),
    expiresMs + 5_000,
    `the message's expiry (${new Date(at).toISOString()}) to pass`,
  );
}

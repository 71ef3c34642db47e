/**
 * Time limits and STARTED between Ebb and a real Python Celery 5.2.6 on one Redis.
 *
 * The same 4 s sleep under soft_time_limit=1 runs on an Ebb worker (queue "ebb") and on a Python
 * prefork worker (queue "celery"; the solo pool enforces no limits), both sent by Python's
 * apply_async: both must end FAILURE SoftTimeLimitExceeded after about 1 s, stored alike. Then the
 * hard limit, a limit sent by an Ebb client to the Python worker, and a Python client polling a
 * running trackStarted task on Ebb.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { currentTask } from "../../src/task-context.js";
import { waitFor } from "../support/wait.js";
import { describeInterop, ebbSide, PY, PY_DIR, pyEnv, pyGet, startPythonWorker, type EbbSide, type PythonWorker } from "./harness.js";

/** Run python/time_limit_client.py; its stdout lines. */
function limitClient(url: string, args: string[], timeoutMs = 40_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(PY, ["time_limit_client.py", ...args], { cwd: PY_DIR, env: pyEnv(url), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trim().split("\n").filter(Boolean));
      else reject(new Error(`time_limit_client.py ${args.join(" ")} exited ${code}\n${err}`));
    });
  });
}

async function pySendLimited(url: string, task: string, args: unknown[], flags: string[]): Promise<string> {
  const [id] = await limitClient(url, ["send", task, "--args", JSON.stringify(args), ...flags]);
  return id!;
}

/** The stored value's result field, as the Redis backend holds it (Celery's own JSON). */
async function storedResult(client: { get(k: string): Promise<string | null> }, id: string): Promise<unknown> {
  const raw = await client.get(`celery-task-meta-${id}`);
  return raw === null ? null : (JSON.parse(raw) as { result: unknown }).result;
}

/** "[2026-12-01 10:57:51,217: ..." → epoch ms (the worker logs in UTC here: TZ is not set). */
function logTime(log: string, pattern: RegExp): number {
  const line = log.split("\n").find((l) => pattern.test(l));
  const m = line?.match(/^\[(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3})/);
  if (!m) throw new Error(`No timestamped line matching ${pattern} in the Python worker's log:\n${log}`);
  return Date.parse(`${m[1]}T${m[2]}.${m[3]}Z`);
}

await describeInterop("time limits and STARTED, Ebb and Python Celery", (redis) => {
  let ebb: EbbSide;
  let py: PythonWorker;
  const runs = new Map<string, { startedAt: number; abortedAfterMs: number | null }>();
  const stuck: Array<() => void> = [];
  let stopEbbWorker: () => Promise<void> = async () => undefined;

  beforeAll(async () => {
    ebb = ebbSide(redis.url, (app) => {
      // Sleeps 4 s unless its signal is aborted, as a well-behaved handler does.
      app.task("limits.sleep", async (seconds: number) => {
        const { id, signal } = currentTask();
        const run = { startedAt: performance.now(), abortedAfterMs: null as number | null };
        runs.set(id, run);
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, seconds * 1000);
          signal.addEventListener(
            "abort",
            () => {
              clearTimeout(timer);
              run.abortedAfterMs = performance.now() - run.startedAt;
              reject(signal.reason);
            },
            { once: true },
          );
        });
        return seconds;
      });
      // Ignores its signal: only the hard limit ends it (the test releases it afterwards).
      app.task("limits.stuck", () => new Promise<string>((resolve) => stuck.push(() => resolve("late"))));
      app.task("limits.tracked", () => new Promise<string>((resolve) => stuck.push(() => resolve("done"))), { trackStarted: true });
    });
    const worker = await ebb.app.worker({ queues: ["ebb"], concurrency: 2, fetchWaitMs: 200 });
    const done = worker.start();
    stopEbbWorker = async () => {
      await worker.stop();
      await done;
    };
    py = await startPythonWorker(redis.url, {}, ["--pool=prefork", "--concurrency=1", "-l", "debug"]);
  });

  afterAll(async () => {
    for (const release of stuck) release();
    await stopEbbWorker();
    await py?.stop();
    await ebb?.close();
  });

  it("soft_time_limit=1 on a 4 s task: FAILURE SoftTimeLimitExceeded after about 1 s, on Ebb as on Python", async () => {
    const onEbb = await pySendLimited(redis.url, "limits.sleep", [4], ["--queue", "ebb", "--soft-time-limit", "1"]);
    const onPy = await pySendLimited(redis.url, "interop.sleep", [4], ["--soft-time-limit", "1"]);
    const [ebbSeen, pySeen] = [await pyGet(redis.url, onEbb), await pyGet(redis.url, onPy)];

    const expected = { class: "SoftTimeLimitExceeded", module: "billiard.exceptions", args: [] };
    expect([ebbSeen.state, ebbSeen.exception]).toEqual(["FAILURE", expected]);
    expect([pySeen.state, pySeen.exception]).toEqual(["FAILURE", expected]);
    expect(await storedResult(redis.client, onEbb)).toEqual(await storedResult(redis.client, onPy));

    // Ebb: the handler saw its signal abort about 1 s after it started, not 4 s.
    const abortedAfterMs = runs.get(onEbb)?.abortedAfterMs ?? null;
    expect(abortedAfterMs).not.toBeNull();
    expect(abortedAfterMs!).toBeGreaterThanOrEqual(950);
    expect(abortedAfterMs!).toBeLessThan(2_500);
    // Python: from the task's hand-over to the pool ("TaskPool: Apply", at debug level; after a hard
    // limit the pool child is replaced, so "received" can come seconds earlier on a loaded machine)
    // to its "Soft time limit (1s) exceeded" warning, by the worker's own log.
    const log = py.log();
    const pyAfterMs =
      logTime(log, new RegExp(`Soft time limit \\(1s\\) exceeded for interop\\.sleep\\[${onPy}\\]`)) -
      logTime(log, new RegExp(`TaskPool: Apply .*'interop\\.sleep', '${onPy}'`));
    expect(pyAfterMs).toBeGreaterThanOrEqual(900);
    expect(pyAfterMs).toBeLessThan(2_500);
  });

  it("time_limit=1 on a task that ignores its signal: FAILURE TimeLimitExceeded(1), stored as Python's worker stores it", async () => {
    const onEbb = await pySendLimited(redis.url, "limits.stuck", [], ["--queue", "ebb", "--time-limit", "1"]);
    const onPy = await pySendLimited(redis.url, "interop.sleep", [4], ["--time-limit", "1"]);
    const [ebbSeen, pySeen] = [await pyGet(redis.url, onEbb), await pyGet(redis.url, onPy)];
    const expected = { class: "TimeLimitExceeded", module: "billiard.exceptions", args: [1] };
    expect([ebbSeen.state, ebbSeen.exception]).toEqual(["FAILURE", expected]);
    expect([pySeen.state, pySeen.exception]).toEqual(["FAILURE", expected]);
    expect(await storedResult(redis.client, onEbb)).toEqual({
      exc_type: "TimeLimitExceeded",
      exc_message: [1],
      exc_module: "billiard.exceptions",
    });
    expect(await storedResult(redis.client, onEbb)).toEqual(await storedResult(redis.client, onPy));
  });

  it("an Ebb client's softTimeLimit travels in the timelimit header: a Python worker stops the task after 1 s", async () => {
    const res = await ebb.app.sendTask("interop.sleep", [4], { softTimeLimit: "1s" });
    const seen = await pyGet(redis.url, res.id);
    expect([seen.state, seen.exception?.class]).toEqual(["FAILURE", "SoftTimeLimitExceeded"]);
    const log = py.log();
    const afterMs =
      logTime(log, new RegExp(`Soft time limit \\(1(\\.0)?s\\) exceeded for interop\\.sleep\\[${res.id}\\]`)) -
      logTime(log, new RegExp(`TaskPool: Apply .*'interop\\.sleep', '${res.id}'`));
    expect(afterMs).toBeGreaterThanOrEqual(900);
    expect(afterMs).toBeLessThan(2_500);
  });

  it("a Python client polling a running trackStarted task on Ebb sees STARTED, with {pid, hostname} as info", async () => {
    const before = stuck.length;
    const id = await pySendLimited(redis.url, "limits.tracked", [], ["--queue", "ebb"]);
    await waitFor("the tracked handler to run", () => stuck.length > before, 20_000);
    const [line] = await limitClient(redis.url, ["wait-state", id, "STARTED", "--timeout", "20"]);
    const polled = JSON.parse(line!) as { state: string; info: { pid: number; hostname: string } };
    expect(polled.state).toBe("STARTED");
    expect(polled.info).toEqual({ pid: process.pid, hostname: expect.stringMatching(/^ebb-\d+@/) });
    stuck[before]!();
    const done = await pyGet(redis.url, id);
    expect([done.state, done.result]).toEqual(["SUCCESS", "done"]);
  });
});

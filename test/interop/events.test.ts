import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { currentTask } from "../../src/task-context.js";
import type { Worker } from "../../src/worker/worker.js";
import { waitFor } from "../support/wait.js";
import { describeInterop, ebbSide, PY, PY_DIR, pyBatch, pyEnv, type EbbSide } from "./harness.js";

/**
 * Celery events from an Ebb worker, read by Celery itself: `celery events --dump` (the real
 * command) and python/events_client.py (Celery's EventReceiver feeding
 * celery.events.state.State, the model Flower keeps) on the suite's own redis-server, while an
 * Ebb worker with events on runs a succeeding, a failing and a retrying task sent by a real
 * Celery client.
 */

class QuotaExceededError extends Error {}

/** A long-running Python process whose output is collected; killed by stop() (and afterEach). */
interface PyProcess {
  out: () => string;
  exited: Promise<number | null>;
  stop: () => Promise<void>;
}

const running = new Set<PyProcess>();
/** Ebb workers the test started, stopped in afterEach even when it fails midway. */
const workers: { worker: Worker; done: Promise<void> | null }[] = [];

function startPython(url: string, args: string[]): PyProcess {
  const child: ChildProcess = spawn(PY, args, { cwd: PY_DIR, env: pyEnv(url), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const p: PyProcess = {
    out: () => `${out}${err ? `\n[stderr]\n${err}` : ""}`,
    exited,
    async stop() {
      running.delete(p);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
  running.add(p);
  return p;
}

interface Summary {
  offline_seen: boolean;
  alive_seen: boolean;
  alive_now: boolean;
  worker: { sw_ident: string; sw_ver: string; sw_sys: string; freq: number; processed: number; pid: number } | null;
  tasks: Record<
    string,
    { state: string; name: string | null; result: string | null; exception: string | null; retries: number; worker: string | null }
  >;
}

let ebb: EbbSide;

await describeInterop("Ebb worker events → celery events --dump and Celery's State (a redis-server of its own)", (redis) => {
  beforeAll(async () => {
    ebb = ebbSide(redis.url, (app) => {
      app.task("interop.events.add", async (a: number, b: number) => a + b);
      app.task("interop.events.fail", async (message: string) => {
        throw new QuotaExceededError(message);
      });
      app.task("interop.events.flaky", async () => {
        if (currentTask().retries < 1) currentTask().retry({ countdown: "0s", exc: new QuotaExceededError("try again") });
        return "ok after retry";
      });
    });
  });

  afterEach(async () => {
    for (const w of workers.splice(0)) {
      await w.worker.stop();
      await w.done;
    }
    await Promise.all([...running].map((p) => p.stop()));
  });

  afterAll(async () => {
    await ebb?.close();
  });

  it("the dump and State see the worker come online, each task's events with its uuid, and the worker go offline", async () => {
    const name = `ebb-events-${process.pid}@interop`;
    const worker: Worker = await ebb.app.worker({ events: true, name, fetchWaitMs: 500, concurrency: 2 });
    const dump = startPython(redis.url, ["-m", "celery", "-A", "interop_tasks", "events", "--dump"]);
    const receiver = startPython(redis.url, ["events_client.py", name, "50"]);
    // Both have subscribed (kombu PSUBSCRIBEs /0.celeryev/*; NUMPAT counts patterns, not clients).
    const subscribers = async () =>
      ((await redis.client.call("CLIENT", "LIST")) as string).split("\n").filter((l) => / psub=[1-9]/.test(l)).length;
    await waitFor("both event receivers to subscribe", async () => (await subscribers()) >= 2, 30_000, 50).catch(() => {
      throw new Error(`The event receivers did not subscribe.\ndump:\n${dump.out()}\nevents_client.py:\n${receiver.out()}`);
    });

    const done = worker.start();
    workers.push({ worker, done });
    const [okId, failId, flakyId] = await pyBatch(redis.url, [
      { task: "interop.events.add", args: [2, 3] },
      { task: "interop.events.fail", args: ["over quota"] },
      { task: "interop.events.flaky" },
    ]);
    expect(await ebb.app.asyncResult(okId!).get({ timeoutMs: 20_000 })).toBe(5);
    await expect(ebb.app.asyncResult(failId!).get({ timeoutMs: 20_000 })).rejects.toThrow(/over quota/);
    expect(await ebb.app.asyncResult(flakyId!).get({ timeoutMs: 20_000 })).toBe("ok after retry");
    // Two heartbeats (2 s apart) before stopping, so State has judged the worker alive on one.
    await waitFor("a heartbeat on the receiver", () => receiver.out().includes('"type": "worker-heartbeat"'), 20_000, 50);
    await worker.stop();
    await done;

    // celery events --dump: Celery's own formatting of Ebb's events.
    const host = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const lines = [
      new RegExp(`${host} \\[[^\\]]+\\] started: .*sw_ident=ebb`),
      new RegExp(`${host} \\[[^\\]]+\\] task received: interop\\.events\\.add\\(${okId}\\) args=\\[2, 3\\] kwargs=\\{\\}`),
      new RegExp(`${host} \\[[^\\]]+\\] task started: interop\\.events\\.add\\(${okId}\\)`),
      new RegExp(`${host} \\[[^\\]]+\\] task succeeded: interop\\.events\\.add\\(${okId}\\) .*result=5, runtime=`),
      new RegExp(
        `${host} \\[[^\\]]+\\] task failed: interop\\.events\\.fail\\(${failId}\\) .*exception=QuotaExceededError\\('over quota'\\)`,
      ),
      new RegExp(
        `${host} \\[[^\\]]+\\] task retried: interop\\.events\\.flaky\\(${flakyId}\\) .*exception=QuotaExceededError\\('try again'\\)`,
      ),
      new RegExp(`${host} \\[[^\\]]+\\] task succeeded: interop\\.events\\.flaky\\(${flakyId}\\) .*result='ok after retry'`),
      new RegExp(`${host} \\[[^\\]]+\\] shutdown: .*processed=4`),
    ];
    await waitFor("celery events --dump to print the worker's shutdown", () => lines.at(-1)!.test(dump.out()), 20_000, 50).catch(() => {
      throw new Error(`celery events --dump printed:\n${dump.out()}`);
    });
    for (const line of lines) expect(dump.out(), `celery events --dump output should match ${line}`).toMatch(line);

    // Celery's State, fed by its EventReceiver (what Flower shows).
    expect(await receiver.exited).toBe(0);
    const summaryLine = receiver
      .out()
      .split("\n")
      .find((l) => l.startsWith('{"summary"'));
    expect(summaryLine, receiver.out()).toBeDefined();
    const summary = (JSON.parse(summaryLine!) as { summary: Summary }).summary;
    expect(summary).toMatchObject({ offline_seen: true, alive_seen: true, alive_now: false });
    expect(summary.worker).toMatchObject({ sw_ident: "ebb", sw_sys: expect.any(String), freq: 2, processed: 4, pid: process.pid });
    expect(summary.tasks[okId!]).toEqual({
      state: "SUCCESS",
      name: "interop.events.add",
      result: "5",
      exception: null,
      retries: 0,
      worker: name,
    });
    expect(summary.tasks[failId!]).toMatchObject({
      state: "FAILURE",
      name: "interop.events.fail",
      exception: "QuotaExceededError('over quota')",
    });
    expect(summary.tasks[flakyId!]).toMatchObject({
      state: "SUCCESS",
      name: "interop.events.flaky",
      result: "'ok after retry'",
      retries: 1,
    });

    // Every event of the run came from one sender, with its Lamport clock counting up.
    const events = receiver
      .out()
      .split("\n")
      .filter((l) => l.startsWith('{"event"'))
      .map((l) => (JSON.parse(l) as { event: { hostname: string; type: string; clock: number; uuid?: string } }).event)
      .filter((e) => e.hostname === name);
    expect(events[0]!.type).toBe("worker-online");
    expect(events.at(-1)!.type).toBe("worker-offline");
    const clocks = events.map((e) => e.clock);
    expect(clocks).toEqual([...clocks].sort((a, b) => a - b));
    expect(events.filter((e) => e.uuid === flakyId).map((e) => e.type)).toEqual([
      "task-received",
      "task-started",
      "task-retried",
      "task-received",
      "task-started",
      "task-succeeded",
    ]);
  });
});

import { execFile } from "node:child_process";
import { afterEach, expect, it } from "vitest";
import { currentTask } from "../../src/task-context.js";
import type { Worker } from "../../src/worker/worker.js";
import { waitFor } from "../support/wait.js";
import { describeInterop, ebbCli, ebbSide, PY, PY_DIR, pyBatch, pyEnv, pyGetMany, startPythonWorker, type EbbSide } from "./harness.js";

/**
 * Celery's remote control between Ebb and a real Python Celery 5.2.6 on one Redis: Python's
 * `celery inspect` and app.control reach Ebb workers, and `ebb inspect` / `ebb revoke` reach
 * Python workers (kombu's pidbox: PUBLISH on /0.celery.pidbox, replies through the
 * reply.celery.pidbox binding table).
 */

/** Run a Python program in test/interop/python (a real Celery) and give its stdout; throws with its output when it fails. */
function py(url: string, args: string[], timeoutMs = 40_000): Promise<{ stdout: string; code: number }> {
  return new Promise((resolve, reject) => {
    execFile(PY, args, { cwd: PY_DIR, env: pyEnv(url), timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      if (error && typeof error.code !== "number") reject(new Error(`${args.join(" ")} failed: ${error.message}\n${stderr}`));
      else resolve({ stdout: `${stdout}${code === 0 ? "" : stderr}`, code });
    });
  });
}

const celery = (url: string, args: string[]) => py(url, ["-m", "celery", "-A", "interop_tasks", ...args]);
const control = async (url: string, args: string[]) => {
  const r = await py(url, ["control_client.py", ...args]);
  if (r.code !== 0) throw new Error(`control_client.py ${args.join(" ")} exited ${r.code}: ${r.stdout}`);
  return r.stdout.trim();
};

describeInterop("remote control between Ebb and Python Celery", (redis) => {
  let side: EbbSide | null = null;
  const runs: Promise<void>[] = [];
  const workers: Worker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await Promise.all(runs.splice(0));
    await side?.close();
    side = null;
  });

  /** An Ebb app with a task held until the test opens it (or its signal aborts), and a task that records that it ran. */
  function ebbApp() {
    const ran: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const aborted: unknown[] = [];
    side = ebbSide(redis.url, (app) => {
      app.task("ebb.busy", async () => {
        const signal = currentTask().signal;
        await Promise.race([
          gate,
          new Promise((_, reject) =>
            signal.addEventListener(
              "abort",
              () => {
                aborted.push(signal.reason);
                reject(signal.reason);
              },
              { once: true },
            ),
          ),
        ]);
        return "done";
      });
      app.task("ebb.record", async (n: number) => {
        ran.push(String(n));
        return n;
      });
    });
    return { side, ran, aborted, open: () => open() };
  }

  async function startEbb(s: EbbSide, name: string, concurrency = 1, queues?: string[]): Promise<Worker> {
    const worker = await s.app.worker({ concurrency, name, fetchWaitMs: 200, ...(queues ? { queues } : {}) });
    workers.push(worker);
    runs.push(worker.start());
    await waitFor(
      `${name} to answer ping`,
      async () => Object.keys(await s.app.control.ping({ destination: [name] })).length === 1,
      20_000,
    );
    return worker;
  }

  it("celery inspect ping lists the Ebb worker; Python's Inspect reads its active, query_task, conf, registered, stats, revoked and active_queues", async () => {
    const { side, open } = ebbApp();
    const worker = await startEbb(side, "ebb-ping@interop");
    const ping = await celery(redis.url, ["inspect", "ping", "--timeout", "3"]);
    expect(ping.code).toBe(0);
    expect(ping.stdout).toMatch(/ebb-ping@interop: OK\s+pong/);

    const busy = await side.app.sendTask("ebb.busy");
    await waitFor("the busy task to run", () => worker.active === 1);
    const dest = ["--destination", "ebb-ping@interop"];
    const active = JSON.parse(await control(redis.url, ["inspect", "active", ...dest])) as Record<string, { id: string; name: string }[]>;
    expect(active["ebb-ping@interop"]!.map((t) => [t.id, t.name])).toEqual([[busy.id, "ebb.busy"]]);
    const query = JSON.parse(await control(redis.url, ["inspect", "query_task", busy.id, "not-here", ...dest])) as Record<string, unknown>;
    expect(query["ebb-ping@interop"]).toEqual({ [busy.id]: ["active", expect.objectContaining({ id: busy.id, name: "ebb.busy" })] });
    const conf = JSON.parse(await control(redis.url, ["inspect", "conf", ...dest])) as Record<string, Record<string, unknown>>;
    expect(conf["ebb-ping@interop"]).toMatchObject({ worker_concurrency: 1, task_acks_late: true, timezone: "UTC" });
    const registered = JSON.parse(await control(redis.url, ["inspect", "registered", ...dest])) as Record<string, string[]>;
    expect(registered["ebb-ping@interop"]).toEqual(expect.arrayContaining(["ebb.busy", "ebb.record"]));
    const stats = JSON.parse(await control(redis.url, ["inspect", "stats", ...dest])) as Record<string, Record<string, unknown>>;
    expect(stats["ebb-ping@interop"]).toMatchObject({ total: { "ebb.busy": 1 }, pool: { "max-concurrency": 1 } });
    await control(redis.url, ["revoke", "never-sent-1", "never-sent-2"]);
    await waitFor("the revoke to arrive", () => worker.revoked.has("never-sent-2"));
    const revoked = JSON.parse(await control(redis.url, ["inspect", "revoked", ...dest])) as Record<string, string[]>;
    expect(revoked["ebb-ping@interop"]!.sort()).toEqual(["never-sent-1", "never-sent-2"]);
    const queues = JSON.parse(await control(redis.url, ["inspect", "active_queues", ...dest])) as Record<string, { name: string }[]>;
    expect(queues["ebb-ping@interop"]!.map((q) => q.name)).toEqual(["celery"]);
    open();
    expect(await busy.get({ timeoutMs: 10_000 })).toBe("done");
  });

  it("20 tasks revoked from Python while queued behind a busy Ebb worker: none runs, all end REVOKED", async () => {
    const { side, ran, open } = ebbApp();
    const worker = await startEbb(side, "ebb-revoke@interop", 1);
    const busy = await side.app.sendTask("ebb.busy");
    await waitFor("the busy task to run", () => worker.active === 1);
    const ids = await pyBatch(
      redis.url,
      Array.from({ length: 20 }, (_, i) => ({ task: "ebb.record", args: [i] })),
    );
    const kept = await side.app.sendTask("ebb.record", [99]);
    await control(redis.url, ["revoke", ...ids]);
    await waitFor("the revokes to arrive", () => ids.every((id) => worker.revoked.has(id)));
    open();
    expect(await busy.get({ timeoutMs: 10_000 })).toBe("done");
    expect(await kept.get({ timeoutMs: 10_000 })).toBe(99);
    const results = await pyGetMany(redis.url, ids, 20);
    expect(results.map((r) => r.state)).toEqual(ids.map(() => "REVOKED"));
    expect(results[0]!.exception).toMatchObject({ class: "TaskRevokedError", args: ["revoked"] });
    expect(ran).toEqual(["99"]);
  });

  it("AsyncResult.revoke(terminate=True) from Python aborts the running Ebb task's signal and REVOKED is stored", async () => {
    const { side, aborted } = ebbApp();
    const worker = await startEbb(side, "ebb-term@interop", 2);
    const busy = await side.app.sendTask("ebb.busy");
    await waitFor("the busy task to run", () => worker.lifecycle.activeTask(busy.id));
    await control(redis.url, ["result-revoke", busy.id, "--terminate"]);
    const [r] = await pyGetMany(redis.url, [busy.id], 20);
    expect(r).toMatchObject({ state: "REVOKED", exception: { class: "TaskRevokedError", args: ["terminated"] } });
    expect(aborted).toHaveLength(1);
    expect(String(aborted[0])).toMatch(/terminated \(SIGTERM\)/);
  });

  it("ebb revoke is honoured by a Python worker; ebb inspect ping lists a Python worker and an Ebb worker", async () => {
    const { side } = ebbApp();
    // On a queue of its own: the Python worker alone takes the tasks on "celery".
    await startEbb(side, "ebb-both@interop", 1, ["ebb-only"]);
    const pyWorker = await startPythonWorker(redis.url);
    try {
      const ping = await ebbCli(redis.url, ["inspect", "ping", "--timeout", "3s"]);
      expect(ping.code).toBe(0);
      const nodes = Object.keys(ping.json ?? {});
      expect(nodes).toContain("ebb-both@interop");
      expect(nodes.some((n) => n.startsWith(`interop-${process.pid}@`))).toBe(true);

      // Tasks the Python worker holds for their ETA (it stays idle, so it answers control at once), revoked with the CLI.
      const queued = Array.from({ length: 5 }, (_, i) => side.app.sendTask("interop.add", [i, 1], { countdown: "8s" }));
      const ids = (await Promise.all(queued)).map((r) => r.id);
      const revoke = await ebbCli(redis.url, ["revoke", ...ids, "--timeout", "3s"]);
      expect(revoke.code).toBe(0);
      expect(revoke.json).toMatchObject({ ids, revoked: true, terminate: false });
      expect(revoke.json?.nodes).toEqual(expect.arrayContaining(["ebb-both@interop"]));
      expect(((revoke.json?.nodes ?? []) as string[]).some((n) => n.startsWith(`interop-${process.pid}@`))).toBe(true);
      const results = await pyGetMany(redis.url, ids, 20);
      expect(results.map((r) => r.state)).toEqual(ids.map(() => "REVOKED"));
      expect(pyWorker.log()).toMatch(/Discarding revoked task/);
    } finally {
      await pyWorker.stop();
    }
  });

  it("celery control shutdown stops the Ebb worker warmly", async () => {
    const { side } = ebbApp();
    await startEbb(side, "ebb-stop@interop");
    const done = runs.at(-1)!;
    let stopped = false;
    void done.then(() => {
      stopped = true;
    });
    const r = await celery(redis.url, ["control", "shutdown", "--destination", "ebb-stop@interop", "--timeout", "3"]);
    expect(r.stdout).toMatch(/ebb-stop@interop: OK/);
    await waitFor("the Ebb worker to stop", () => stopped, 10_000);
    expect(Object.keys(await side.app.control.ping({ timeoutMs: 300 }))).toEqual([]);
  });
});

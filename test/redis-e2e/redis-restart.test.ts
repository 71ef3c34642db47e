import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { StoreOutcome, StoreRequest } from "../../src/backends/result-backend.js";
import { StoreUnavailableError } from "../../src/errors.js";
import { currentTask } from "../../src/task-context.js";
import { collectingLogger } from "../app/helpers.js";
import { describeWithService } from "../support/services.js";
import { RedisServer, runWorker, sleep, testApp, waitFor } from "./harness.js";

// The Redis failure test: the worker's own Redis is stopped and started again mid-stream (its
// AOF, fsync always, brings the data back). Nothing acknowledged may be lost, nothing may run
// into a second result, and the worker must carry on by itself.

const EBB_BIN = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));
const TOTAL = 300;
const BEFORE = 200; // published before the stop; 50 more while Redis is down, 50 after
const OUTAGE_MS = 4_000; // > the visibility timeout (3s)

function runCli(args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [EBB_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`ebb ${args.join(" ")} still running after ${timeoutMs} ms (hangs instead of failing)\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: performance.now() - started });
    });
  });
}

await describeWithService("redis", "redis e2e: a Redis restart under a running worker", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it("the worker survives a restart; acked results persist; all 300 tasks end SUCCESS with one result each", async () => {
    if (!server.running) await server.start();
    const testStarted = performance.now();
    const url = server.url();
    const { log, lines } = collectingLogger();
    const app = testApp(url, { visibilityTimeout: "3s", resultTimeout: "30s" }, log);
    const runs = new Map<string, number>();
    const echo = app.task("e2e.echo", async (n: number) => {
      const id = currentTask().id;
      runs.set(id, (runs.get(id) ?? 0) + 1);
      await sleep(20);
      return n;
    });
    // Count the writes that really stored a SUCCESS (store-result.lua keeps a ready result and says stored: false).
    const backend = await app.backend();
    const stores = new Map<string, number>();
    const count = (req: StoreRequest, out: StoreOutcome) => {
      if (out.stored && req.status === "SUCCESS") stores.set(req.taskId, (stores.get(req.taskId) ?? 0) + 1);
      return out;
    };
    const store = backend.store.bind(backend);
    backend.store = async (req: StoreRequest) => count(req, await store(req));
    // Broker and backend share this Redis: the worker stores and acks in one step (finishWith).
    const finishWith = backend.finishWith!.bind(backend);
    backend.finishWith = (broker) => {
      const step = finishWith(broker)!;
      return async (req, delivery) => count(req, await step(req, delivery));
    };
    const { worker, state } = await runWorker(app, { concurrency: 4 });

    const sent = await Promise.all(Array.from({ length: BEFORE }, (_, i) => echo.delay(i)));
    await waitFor("the worker to finish 60 tasks", () => worker.processed >= 60, 20_000, 1);

    // What the worker has stored (and so acked) before the stop, byte for byte.
    const admin = server.client();
    const keys = sent.map((r) => `celery-task-meta-${r.id}`);
    const values = await admin.mget(...keys);
    admin.disconnect();
    const storedBefore = new Map<string, string>();
    values.forEach((v, i) => {
      if (v && JSON.parse(v).status === "SUCCESS") storedBefore.set(keys[i]!, v);
    });
    expect(storedBefore.size).toBeGreaterThan(0);
    expect(storedBefore.size).toBeLessThan(BEFORE); // midway, really

    await server.stop();
    const processedWhileDown = worker.processed;
    // Published while Redis is down: ioredis queues them; they must not fail.
    const duringOutage = Array.from({ length: 50 }, (_, j) => echo.delay(BEFORE + j));
    // Down for longer than the visibility timeout: the leases of the tasks in flight run out meanwhile.
    await sleep(OUTAGE_MS);
    const restartMs = await server.start();
    const upAt = performance.now();
    sent.push(...(await Promise.all(duringOutage)));
    const firstAfter = await waitFor(
      "the worker to finish a task after the restart",
      () => worker.processed > processedWhileDown && performance.now(),
      15_000,
      5,
    );
    for (let i = BEFORE + 50; i < TOTAL; i++) sent.push(await echo.delay(i));

    const got = await Promise.all(sent.map((r) => r.get({ timeoutMs: 30_000 })));
    const allDone = performance.now();
    expect(got).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    expect(new Set(sent.map((r) => r.id)).size).toBe(TOTAL);
    for (const r of sent) expect(runs.get(r.id) ?? 0, `runs of ${r.id}`).toBeGreaterThanOrEqual(1);
    // One stored SUCCESS per id. (An id may show none here if Redis took its write but the reply was
    // lost in the restart: only the few messages in flight then, at most concurrency + prefetch.)
    expect([...stores.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(stores.size).toBeGreaterThanOrEqual(TOTAL - 8);

    const check = server.client();
    // Still there after the restart, and not overwritten by a second run: a ready result is final.
    expect(await check.mget(...storedBefore.keys())).toEqual([...storedBefore.values()]);
    await waitFor("no message left unacknowledged", async () => (await check.hlen("unacked")) === 0, 10_000);
    check.disconnect();

    expect(state).toEqual({ ended: false, failure: null });
    expect(worker.processed).toBeGreaterThanOrEqual(TOTAL);
    const reruns = [...runs.values()].reduce((a, b) => a + b, 0) - TOTAL;
    const recovery = {
      restartMs: Math.round(restartMs),
      firstTaskAfterUpMs: Math.round(firstAfter - upAt),
      allDoneAfterUpMs: Math.round(allDone - upAt),
      reruns,
      storedBefore: storedBefore.size,
    };
    console.log(`[redis-restart] ${JSON.stringify(recovery)}; errors logged: ${lines.filter((l) => l.level === "error").length}`);
    expect(firstAfter - upAt).toBeLessThan(10_000);
    expect(performance.now() - testStarted).toBeLessThan(60_000);
  }, 90_000);

  it("with Redis stopped, sendTask and `ebb result` fail fast with one line naming host:port (CLI exit 69)", async () => {
    await server.stop();
    const hostPort = `127.0.0.1:${server.port}`;
    const app = testApp(server.url());
    const started = performance.now();
    const error = await app.sendTask("e2e.echo", [1]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toContain(hostPort);
    expect((error as Error).message).not.toContain("\n");
    expect(performance.now() - started).toBeLessThan(15_000);

    for (const args of [
      ["result", "some-id", "--backend", server.url()],
      ["call", "e2e.echo", "--args", "[1]", "--broker", server.url()],
    ]) {
      const run = await runCli(args, 15_000);
      expect(run.code, run.stderr).toBe(69);
      const stderrLines = run.stderr.trim().split("\n");
      expect(stderrLines).toHaveLength(1);
      expect(stderrLines[0]).toContain(hostPort);
      expect(run.ms).toBeLessThan(15_000);
    }
  }, 60_000);

  it("an app whose first call found Redis down works once Redis is back, and close() does not throw", async () => {
    await server.stop();
    const app = testApp(server.url(), { resultTimeout: "10s" });
    await expect(app.sendTask("e2e.nobody", [1])).rejects.toBeInstanceOf(StoreUnavailableError);
    await server.start();
    // src/app.ts caches the rejected broker/backend promise: without a fix this keeps failing.
    const res = await app.sendTask("e2e.nobody", [1]);
    expect(await res.state()).toBe("PENDING");
    await expect(app.close()).resolves.toBeUndefined();
  }, 30_000);
});

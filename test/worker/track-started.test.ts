/**
 * trackStarted (Celery's task_track_started): STARTED with {pid, hostname} while the handler runs,
 * then the outcome. Handlers wait on gates the test opens, so "while it runs" is certain.
 */
import { describe, expect, it } from "vitest";
import { collectingLogger, deferred, newApp, startWorker, until } from "../app/helpers.js";
import { waitFor } from "../support/wait.js";

describe("trackStarted", () => {
  it("stores STARTED with {pid, hostname} when the handler starts, then SUCCESS", async () => {
    const app = newApp();
    const gate = deferred<void>();
    const t = app.task(
      "ts.gated",
      async (n: number) => {
        await gate.promise;
        return n + 1;
      },
      { trackStarted: true },
    );
    const { worker } = await startWorker(app);
    const res = await t.delay(1);
    expect(await res.state()).toBe("PENDING");
    await waitFor("STARTED to be stored", async () => (await res.state()) === "STARTED");
    const info = await res.info();
    expect(info.result).toEqual({ pid: process.pid, hostname: worker.name });
    expect(info.dateDone).toBeNull(); // not done: Celery writes date_done null for STARTED
    gate.resolve();
    expect(await res.get({ timeoutMs: 10_000 })).toBe(2);
    expect(await res.state()).toBe("SUCCESS");
  });

  it("follows the app's setting (default off); a task's own setting wins either way", async () => {
    const app = newApp({ trackStarted: true });
    const gate = deferred<void>();
    const seen = new Set<string>();
    const inherits = app.task("ts.inherits", async () => {
      seen.add("inherits");
      await gate.promise;
    });
    const optsOut = app.task(
      "ts.opts-out",
      async () => {
        seen.add("opts-out");
        await gate.promise;
      },
      { trackStarted: false },
    );
    await startWorker(app);
    const [a, b] = [await inherits.delay(), await optsOut.delay()];
    await until(() => seen.size === 2, "both handlers to run");
    await waitFor("STARTED of the inheriting task", async () => (await a.state()) === "STARTED");
    expect(await b.state()).toBe("PENDING");
    gate.resolve();
    await Promise.all([a.get({ timeoutMs: 10_000 }), b.get({ timeoutMs: 10_000 })]);

    const off = newApp();
    const offGate = deferred<void>();
    const plain = off.task("ts.default", async () => {
      seen.add("default");
      await offGate.promise;
    });
    expect(off.config.trackStarted).toBe(false);
    await startWorker(off);
    const r = await plain.delay();
    await until(() => seen.has("default"), "the untracked handler to run");
    expect(await r.state()).toBe("PENDING");
    offGate.resolve();
    expect(await r.get({ timeoutMs: 10_000 })).toBeNull();
  });

  it("stores nothing for an ignored result: the task's ignoreResult or the call's", async () => {
    const app = newApp({ trackStarted: true });
    const gate = deferred<void>();
    let running = 0;
    const ignored = app.task(
      "ts.ignored",
      async () => {
        running++;
        await gate.promise;
      },
      { ignoreResult: true },
    );
    const stored = app.task("ts.stored", async () => {
      running++;
      await gate.promise;
    });
    await startWorker(app);
    const a = await ignored.delay();
    const b = await stored.applyAsync([], { ignoreResult: true });
    const c = await stored.delay(); // the control: tracked
    await until(() => running === 3, "the three handlers to run");
    await waitFor("STARTED of the tracked one", async () => (await c.state()) === "STARTED");
    expect([await a.state(), await b.state()]).toEqual(["PENDING", "PENDING"]);
    gate.resolve();
    await c.get({ timeoutMs: 10_000 });
  });

  it("never replaces a final state already stored (a redelivery of a finished task)", async () => {
    const app = newApp({ trackStarted: true });
    const t = app.task("ts.again", async () => "second run");
    const backend = await app.backend();
    const res = await t.applyAsync([], { taskId: "already-done" });
    await backend.store({
      taskId: "already-done",
      status: "SUCCESS",
      result: "first run",
      traceback: null,
      children: [],
      lifetimeMs: null,
      tier: null,
      action: "delete",
    });
    const { worker } = await startWorker(app);
    await until(() => worker.processed === 1, "the redelivered message to be handled");
    expect(await res.get({ timeoutMs: 0 })).toBe("first run");
  });

  it("a store that fails on STARTED is logged and the task still runs and stores its outcome", async () => {
    const { log, lines } = collectingLogger();
    const app = newApp({ trackStarted: true }, log);
    const backend = await app.backend();
    const store = backend.store.bind(backend);
    backend.store = async (request) => {
      if (request.status === "STARTED") throw new Error("store is down for a moment");
      return store(request);
    };
    const t = app.task("ts.flaky-store", async () => "ran");
    await startWorker(app);
    expect(await (await t.delay()).get({ timeoutMs: 10_000 })).toBe("ran");
    expect(lines.some((l) => l.level === "warn" && /Could not store STARTED for ts\.flaky-store\[.*store is down/.test(l.message))).toBe(
      true,
    );
  });
});

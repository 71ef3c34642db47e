/**
 * Retries: currentTask().retry(), maxRetries, autoretryFor, and the retry delay (with a manual
 * clock on the broker, the retried message is not handed out before its ETA).
 */
import { describe, expect, it, vi } from "vitest";
import type { App } from "../../src/app.js";
import { EbbError, MaxRetriesExceededError, TaskFailedError, TimeoutError } from "../../src/errors.js";
import { silentLogger } from "../../src/logger.js";
import { TaskLifecycle } from "../../src/worker/task-lifecycle.js";
import { decodeTaskMessage } from "../../src/protocol/task-message.js";
import type { AsyncResult } from "../../src/result.js";
import type { State } from "../../src/states.js";
import { currentTask } from "../../src/task-context.js";
import { executeMessage, type ExecuteDeps } from "../../src/worker/execute-message.js";
import { clockedApp, collectingLogger, newApp, startWorker, until, type ManualClock } from "../app/helpers.js";

class FlakyError extends Error {
  override name = "FlakyError";
}

async function failure(p: Promise<unknown>): Promise<TaskFailedError> {
  const err = await p.then(
    (v) => {
      throw new Error(`expected the task to fail, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TaskFailedError);
  return err as TaskFailedError;
}

/** Wait (bounded) until a result reads `state`; fails the test on timeout. */
async function waitForState(app: App, res: AsyncResult<unknown>, state: State, timeoutMs = 10_000): Promise<void> {
  const watch = await (await app.backend()).watch(res.id);
  const deadline = performance.now() + timeoutMs;
  try {
    while ((await res.state()) !== state) {
      if (performance.now() > deadline) throw new Error(`result ${res.id} did not reach ${state}; it is ${await res.state()}`);
      await watch.changed(50);
    }
  } finally {
    watch.close();
  }
}

describe("currentTask().retry()", () => {
  it('retry({ countdown: "0s" }) runs the task again with the same id and arguments until it succeeds; retries counts up', async () => {
    const app = newApp({ resultExtended: true }); // so the stored result carries its retries
    const seen: { retries: number; id: string; args: unknown[] }[] = [];
    const t = app.task("flaky", async (a: number, b: string) => {
      const ctx = currentTask();
      seen.push({ retries: ctx.retries, id: ctx.id, args: [a, b] });
      if (ctx.retries < 3) ctx.retry({ countdown: "0s" });
      return `ok after ${ctx.retries}`;
    });
    await startWorker(app);
    const res = await t.delay(7, "x");
    expect(await res.get({ timeoutMs: 15_000 })).toBe("ok after 3");
    expect(seen.map((s) => s.retries)).toEqual([0, 1, 2, 3]);
    expect(new Set(seen.map((s) => s.id))).toEqual(new Set([res.id]));
    for (const s of seen) expect(s.args).toEqual([7, "x"]);
    const stored = await (await app.backend()).lookup(res.id, { graceMs: 0 });
    expect(stored.kind === "found" && stored.result.retries).toBe(3);
  });

  it("maxRetries exhausted → FAILURE with the exception of the last attempt", async () => {
    const app = newApp();
    const seen: number[] = [];
    const t = app.task(
      "always.flaky",
      async () => {
        const n = currentTask().retries;
        seen.push(n);
        currentTask().retry({ countdown: "0s", exc: new FlakyError(`try ${n}`) });
      },
      { maxRetries: 2 },
    );
    await startWorker(app);
    const res = await t.delay();
    const err = await failure(res.get({ timeoutMs: 15_000 }));
    expect(seen).toEqual([0, 1, 2]);
    expect(err.excType).toBe("FlakyError");
    expect(err.excMessage).toEqual(["try 2"]);
    expect(err.traceback).toContain("FlakyError: try 2");
    expect(await res.state()).toBe("FAILURE");
  });

  it("retry() in a catch block with the caught error: exhaustion stores that error", async () => {
    const app = newApp({ maxRetries: 1 });
    const t = app.task("fetch.remote", async () => {
      try {
        throw new FlakyError("connection reset");
      } catch (e) {
        currentTask().retry({ countdown: "0s", exc: e });
      }
    });
    await startWorker(app);
    const err = await failure((await t.delay()).get({ timeoutMs: 15_000 }));
    expect(err.excType).toBe("FlakyError");
    expect(err.excMessage).toEqual(["connection reset"]);
  });

  it("retry() without exc, once exhausted, stores MaxRetriesExceededError (as Celery), not Ebb's internal RetryRequest", async () => {
    const app = newApp();
    const t = app.task(
      "retry.noexc",
      async () => {
        currentTask().retry({ countdown: "0s" });
      },
      { maxRetries: 1 },
    );
    await startWorker(app);
    const err = await failure((await t.delay()).get({ timeoutMs: 15_000 }));
    expect(err.excType).not.toBe("RetryRequest");
    expect(err.excType).toBe("MaxRetriesExceededError");
    expect(err.excModule).toBe("celery.exceptions");
    expect(err.message).toContain("max retries (1) exceeded");
  });

  it("MaxRetriesExceededError names the task, the id and the retry count, never the arguments (in the result, its traceback, or the logs)", async () => {
    const { log, lines } = collectingLogger();
    const app = newApp({}, log);
    const t = app.task(
      "retry.private",
      async (_email: string, _opts: Record<string, unknown>) => {
        currentTask().retry({ countdown: "0s" });
      },
      { maxRetries: 2 },
    );
    await startWorker(app);
    const res = await t.applyAsync(["alice@example.com", { card: "4111-1111" }], { kwargs: { ssn: "078-05-1120" } });
    const err = await failure(res.get({ timeoutMs: 15_000 }));
    expect(err.excType).toBe("MaxRetriesExceededError");
    expect(err.excMessage).toEqual([
      expect.stringMatching(new RegExp(`^Can't retry retry\\.private\\[${res.id}\\]: max retries \\(2\\) exceeded`)),
    ]);
    const stored = JSON.stringify(await res.info()); // the stored result (exc_message) and traceback
    const logged = lines.map((l) => l.message).join("\n");
    expect(logged).toContain(`retry.private[${res.id}]`);
    for (const secret of ["alice@example.com", "4111-1111", "078-05-1120"]) {
      expect(stored).not.toContain(secret);
      expect(err.traceback ?? "").not.toContain(secret);
      expect(logged).not.toContain(secret);
    }
  });

  it("MaxRetriesExceededError is an EbbError with a code and the task's name, id and retries", () => {
    const e = new MaxRetriesExceededError("t.name", "id-1", 3);
    expect(e).toBeInstanceOf(EbbError);
    expect(e).toMatchObject({
      code: "MAX_RETRIES_EXCEEDED",
      name: "MaxRetriesExceededError",
      taskName: "t.name",
      taskId: "id-1",
      retries: 3,
    });
  });

  it("retry({ maxRetries }) overrides the task's limit; the app's maxRetries applies when the task sets none", async () => {
    const app = newApp({ maxRetries: 1 });
    const seenA: number[] = [];
    const seenB: number[] = [];
    const a = app.task("a", async () => {
      seenA.push(currentTask().retries);
      currentTask().retry({ countdown: "0s", maxRetries: 3, exc: new FlakyError("a") });
    });
    const b = app.task("b", async () => {
      seenB.push(currentTask().retries);
      currentTask().retry({ countdown: "0s", exc: new FlakyError("b") });
    });
    await startWorker(app);
    const [ra, rb] = await Promise.all([a.delay(), b.delay()]);
    await Promise.all([failure(ra.get({ timeoutMs: 15_000 })), failure(rb.get({ timeoutMs: 15_000 }))]);
    expect(seenA).toEqual([0, 1, 2, 3]);
    expect(seenB).toEqual([0, 1]);
  });

  it("maxRetries: null retries without limit", async () => {
    const app = newApp(); // app default is 3
    const t = app.task(
      "patient",
      async () => {
        if (currentTask().retries < 5) currentTask().retry({ countdown: "0s" });
        return currentTask().retries;
      },
      { maxRetries: null },
    );
    await startWorker(app);
    expect(await (await t.delay()).get({ timeoutMs: 15_000 })).toBe(5);
  });
});

describe("autoretryFor", () => {
  it("an error of a listed class retries by itself; the task then succeeds", async () => {
    const app = newApp();
    const seen: number[] = [];
    const t = app.task(
      "auto",
      async () => {
        seen.push(currentTask().retries);
        if (currentTask().retries < 2) throw new FlakyError("transient");
        return "recovered";
      },
      { autoretryFor: [FlakyError], retryDelay: "0s", maxRetries: 5 },
    );
    await startWorker(app);
    expect(await (await t.delay()).get({ timeoutMs: 15_000 })).toBe("recovered");
    expect(seen).toEqual([0, 1, 2]);
  });

  it("an error not listed fails at once; a listed one fails with its own error once maxRetries is used up", async () => {
    const app = newApp();
    let otherRuns = 0;
    let flakyRuns = 0;
    const other = app.task(
      "other",
      async () => {
        otherRuns++;
        throw new TypeError("not transient");
      },
      { autoretryFor: [FlakyError], retryDelay: "0s" },
    );
    const flaky = app.task(
      "flaky",
      async () => {
        flakyRuns++;
        throw new FlakyError(`run ${flakyRuns}`);
      },
      { autoretryFor: [FlakyError], retryDelay: "0s", maxRetries: 1 },
    );
    await startWorker(app);
    const [ro, rf] = await Promise.all([other.delay(), flaky.delay()]);
    const [eo, ef] = await Promise.all([failure(ro.get({ timeoutMs: 15_000 })), failure(rf.get({ timeoutMs: 15_000 }))]);
    expect(otherRuns).toBe(1);
    expect(eo.excType).toBe("TypeError");
    expect(flakyRuns).toBe(2);
    expect(ef.excType).toBe("FlakyError");
    expect(ef.excMessage).toEqual(["run 2"]);
  });

  it("a predicate works too", async () => {
    const app = newApp();
    let runs = 0;
    const t = app.task(
      "pred",
      async () => {
        runs++;
        if (runs === 1) throw new Error("ECONNRESET");
        return runs;
      },
      { autoretryFor: (e) => e instanceof Error && e.message === "ECONNRESET", retryDelay: "0s" },
    );
    await startWorker(app);
    expect(await (await t.delay()).get({ timeoutMs: 15_000 })).toBe(2);
  });
});

describe("retry delay (manual clock)", () => {
  function deps(app: App, _clock: ManualClock, broker: ExecuteDeps["broker"], backend: ExecuteDeps["backend"]): ExecuteDeps {
    return {
      broker,
      backend,
      registry: app.tasks,
      config: app.config,
      log: silentLogger,
      workerName: "test-worker",
      signal: new AbortController().signal,
      lifecycle: new TaskLifecycle(silentLogger),
    };
  }

  it("executeMessage: a failed store whose message cannot be given back either says so, and the message comes back after its lease", async () => {
    const { app, clock, broker, backend } = await clockedApp();
    const t = app.task("store.and.release.fail", async () => "ok");
    const { log, lines } = collectingLogger();
    const d = { ...deps(app, clock, broker, backend), log };
    vi.spyOn(backend, "store").mockRejectedValueOnce(new Error("backend unavailable"));
    vi.spyOn(broker, "release").mockRejectedValueOnce(new Error("broker unavailable"));
    const fetch = () => broker.fetch(["celery"], 10, { visibilityTimeoutMs: 60_000, waitMs: 0 });

    const res = await t.delay();
    const [first] = await fetch();
    expect(await executeMessage(d, first!)).toBe("requeued");
    const errors = lines.filter((l) => l.level === "error").map((l) => l.message);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("Could not store the result of store.and.release.fail");
    expect(errors[0]).toContain("could not be given back either (broker unavailable)");
    expect(errors[0]).not.toContain("goes back to the queue");

    expect(await fetch()).toEqual([]); // still leased
    clock.advance(60_000);
    const [again] = await fetch();
    expect(again?.redelivered).toBe(true);
    expect(await executeMessage(d, again!)).toBe("done");
    expect(await res.get({ timeoutMs: 0 })).toBe("ok");
  });

  it("executeMessage: the retried message (RETRY stored) is not handed out until the clock passes its eta", async () => {
    const { app, clock, broker, backend } = await clockedApp();
    const attempts: number[] = [];
    const t = app.task("later", async (x: number) => {
      attempts.push(currentTask().retries);
      if (currentTask().retries === 0) currentTask().retry({ countdown: "10s", exc: new FlakyError("not yet") });
      return x * 2;
    });
    const d = deps(app, clock, broker, backend);
    const fetch = () => broker.fetch(["celery"], 10, { visibilityTimeoutMs: 3_600_000, waitMs: 0 });
    const t0 = clock();

    const res = await t.delay(21);
    const [first] = await fetch();
    expect(first).toBeDefined();
    expect(await executeMessage(d, first!)).toBe("done");
    expect(attempts).toEqual([0]);

    const info = await res.info();
    expect(info.state).toBe("RETRY");
    expect(info.result).toEqual({ exc_type: "FlakyError", exc_message: ["not yet"], exc_module: "ebb.js" });
    await expect(res.get({ timeoutMs: 0 })).rejects.toBeInstanceOf(TimeoutError);

    expect(await fetch()).toEqual([]); // the original is acked, the retry is not due
    clock.advance(9_999);
    expect(await fetch()).toEqual([]);
    clock.advance(1);
    const due = await fetch();
    expect(due).toHaveLength(1);
    const msg = decodeTaskMessage(due[0]!.message!, due[0]!.queue);
    expect(msg).toMatchObject({ id: res.id, task: "later", args: [21], retries: 1, eta: t0 + 10_000, parentId: res.id });

    expect(await executeMessage(d, due[0]!)).toBe("done");
    expect(attempts).toEqual([0, 1]);
    expect(await res.get({ timeoutMs: 0 })).toBe(42);
  });

  it("worker: a retry without countdown waits the task's retryDelay on the store clock", async () => {
    const { app, clock } = await clockedApp();
    const attempts: number[] = [];
    const t = app.task(
      "slow.retry",
      async () => {
        attempts.push(currentTask().retries);
        if (currentTask().retries === 0) throw new FlakyError("first try fails");
        return "second try";
      },
      { autoretryFor: [FlakyError], retryDelay: "1m" },
    );
    const marker = app.task("marker", async () => "m");
    await startWorker(app, { concurrency: 1 });

    const res = await t.delay();
    await waitForState(app, res, "RETRY");
    // A later message on the same queue is handled while the retry waits for its time.
    expect(await (await marker.delay()).get({ timeoutMs: 15_000 })).toBe("m");
    expect(attempts).toEqual([0]);
    expect(await res.state()).toBe("RETRY");

    clock.advance(60_000);
    expect(await res.get({ timeoutMs: 15_000 })).toBe("second try");
    expect(attempts).toEqual([0, 1]);
  });

  it("a RETRY whose store fails once: the message runs again and there is exactly one retry chain", async () => {
    const { app, clock, broker, backend } = await clockedApp();
    const store = backend.store.bind(backend);
    let failed = false;
    vi.spyOn(backend, "store").mockImplementation(async (request) => {
      if (request.status === "RETRY" && !failed) {
        failed = true;
        throw new Error("backend unavailable");
      }
      return store(request);
    });
    const seen: number[] = [];
    const t = app.task("retry.once", async () => {
      seen.push(currentTask().retries);
      if (currentTask().retries === 0) currentTask().retry({ countdown: "0s" });
      return "done";
    });
    const { worker, running } = await startWorker(app, { concurrency: 1 });

    const res = await t.delay();
    await until(() => failed && worker.processed >= 1, "the RETRY store failed and the message went back");
    clock.advance(5_000); // the message comes back 5 s after a failed store
    expect(await res.get({ timeoutMs: 15_000 })).toBe("done");
    await worker.stop();
    await running;

    // First run (RETRY not stored, nothing published), its rerun, then the one retry.
    expect(seen).toEqual([0, 0, 1]);
    expect(await broker.fetch(["celery"], 10, { visibilityTimeoutMs: 60_000, waitMs: 0 })).toEqual([]);
  });
});

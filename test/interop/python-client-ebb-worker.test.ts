import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { currentTask } from "../../src/task-context.js";
import {
  describeInterop,
  ebbSide,
  eventually,
  pastExpiry,
  pyBatch,
  pyCall,
  pyClient,
  pyGet,
  pyGetMany,
  pySend,
  type EbbSide,
  type PyResult,
} from "./harness.js";

/**
 * Python client → Ebb worker: a real Celery client (python/client.py: app.send_task and
 * AsyncResult.get) sends on kombu's Redis layout, an in-process Ebb worker runs the tasks, and
 * Python decodes what Ebb stored.
 */

class QuotaExceededError extends Error {}

/** Every run on the Ebb worker, in order: which task id, when (ms), with what first argument. */
const runs: { id: string; at: number; first: unknown }[] = [];
let sleeping: (() => void) | null = null;
/** While set, interop.sleep waits for it instead of sleeping; release() ends the hold. */
let holding: Promise<void> | null = null;
let release = (): void => undefined;

let ebb: EbbSide;

await describeInterop("Python Celery client → Ebb worker (a redis-server of its own)", (redis) => {
  beforeAll(async () => {
    ebb = ebbSide(redis.url, (app) => {
      const log = (first?: unknown) => runs.push({ id: currentTask().id, at: Date.now(), first });
      app.task("interop.add", async (a: number, b: number) => {
        log(a);
        return a + b;
      });
      app.task("interop.echo", async (...all: unknown[]) => {
        const kwargs = currentTask().kwargs;
        const args = Object.keys(kwargs).length > 0 ? all.slice(0, -1) : all;
        log(args[0]);
        return { args, kwargs };
      });
      app.task("interop.fail", async (kind: string, message: string) => {
        log(kind);
        throw kind === "type" ? new TypeError(message) : new QuotaExceededError(message);
      });
      app.task("interop.sleep", async (seconds: number) => {
        log(seconds);
        sleeping?.();
        // Held by the test when it says so; else a real sleep.
        await (holding ?? new Promise((r) => setTimeout(r, seconds * 1000)));
        return seconds;
      });
    });
  });

  afterEach(async () => {
    release();
    holding = null;
    await ebb.stopWorkers();
  });

  afterAll(async () => {
    await ebb?.close();
  });

  it("runs a task with args and kwargs, and Python's get() returns the value", async () => {
    await ebb.startWorker(4);
    expect(await pyCall(redis.url, "interop.add", "--args", "[2, 3]")).toMatchObject({ state: "SUCCESS", result: 5, timed_out: false });
    const echo = await pyCall(redis.url, "interop.echo", "--args", '[1, "two", [3]]', "--kwargs", '{"x": {"y": [1, null]}, "s": "é"}');
    expect(echo).toMatchObject({ state: "SUCCESS", result: { args: [1, "two", [3]], kwargs: { x: { y: [1, null] }, s: "é" } } });
    // date_done as Ebb wrote it parses in Python (6 fractional digits).
    expect(echo.date_done).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}/);
  });

  it("keeps a custom task_id: the result is stored under it", async () => {
    await ebb.startWorker(4);
    const res = await pyCall(redis.url, "interop.add", "--args", "[40, 2]", "--task-id", "py-custom-id-1");
    expect(res).toMatchObject({ id: "py-custom-id-1", state: "SUCCESS", result: 42 });
    expect(JSON.parse((await redis.client.get("celery-task-meta-py-custom-id-1"))!)).toMatchObject({
      task_id: "py-custom-id-1",
      status: "SUCCESS",
      result: 42,
    });
  });

  it("stores failures that Python decodes: a TypeError and a custom JS error class, with message", async () => {
    await ebb.startWorker(4);
    const typeErr = await pyCall(redis.url, "interop.fail", "--args", '["type", "x is not a function"]');
    expect(typeErr).toMatchObject({
      state: "FAILURE",
      exception: { class: "TypeError", module: "builtins", args: ["x is not a function"] },
    });
    const custom = await pyCall(redis.url, "interop.fail", "--args", '["quota", "over quota"]');
    expect(custom).toMatchObject({ state: "FAILURE", exception: { class: "QuotaExceededError", args: ["over quota"] } });
  });

  it("a message that expires before the busy worker reaches it ends REVOKED, as Python reads it", async () => {
    await ebb.startWorker(1);
    // The only slot is held until this message, which expires after 1 s, has expired while it
    // waited: however long the Python client takes to start.
    const started = new Promise<void>((r) => (sleeping = r));
    holding = new Promise<void>((r) => (release = r));
    const [sleeper] = await pySend(redis.url, "interop.sleep", "--args", "[3]");
    await started;
    const [id] = await pySend(redis.url, "interop.add", "--args", "[1, 1]", "--expires", "1");
    await pastExpiry(Date.now(), 1_000);
    release();
    const revoked = await pyGet(redis.url, id!);
    expect(revoked).toMatchObject({ state: "REVOKED", exception: { class: "TaskRevokedError", args: ["expired"] } });
    expect(runs.some((r) => r.id === revoked.id)).toBe(false);
    expect(await pyGet(redis.url, sleeper!)).toMatchObject({ state: "SUCCESS", result: 3 });
  });

  it("honours countdown: the task does not run before its ETA", async () => {
    await ebb.startWorker(4);
    const sentAt = Date.now();
    const res = await pyCall(redis.url, "interop.add", "--args", "[5, 5]", "--countdown", "2");
    expect(res).toMatchObject({ state: "SUCCESS", result: 10 });
    const run = runs.find((r) => r.id === res.id)!;
    // The ETA is the client's clock + 2 s, and the client started after sentAt (same machine).
    expect(run.at).toBeGreaterThanOrEqual(sentAt + 2_000);
  });

  it("ignore_result from Python: the task runs and no result key is stored", async () => {
    const worker = await ebb.startWorker(4);
    const before = worker.processed;
    const [id] = await pySend(redis.url, "interop.add", "--args", "[7, 7]", "--ignore-result");
    await eventually(() => (worker.processed > before ? true : undefined), 30_000, "the Ebb worker to finish the ignore_result task");
    expect(runs.some((r) => r.id === id)).toBe(true);
    expect(await redis.client.exists(`celery-task-meta-${id}`)).toBe(0);
    expect(await pyGet(redis.url, id!, 0.5)).toMatchObject({ state: "PENDING", timed_out: true });
    // As in Celery, a failure is stored even when the call ignores its result.
    const failed = await pyCall(redis.url, "interop.fail", "--args", '["type", "still stored"]', "--ignore-result");
    expect(failed).toMatchObject({ state: "FAILURE", exception: { class: "TypeError", args: ["still stored"] } });
  });

  it("a result Python forget()s reads PENDING in Ebb, not EXPIRED", async () => {
    await ebb.startWorker(4);
    const done = await pyCall(redis.url, "interop.add", "--args", "[3, 4]");
    expect(done).toMatchObject({ state: "SUCCESS", result: 7 });
    expect(await pyClient(redis.url, ["forget", done.id]).then((out) => JSON.parse(out) as PyResult)).toMatchObject({ state: "PENDING" });
    // Ebb's own forget() reads PENDING afterwards (README); a Celery forget() must read the same,
    // not EXPIRED with an expiresAt that is still a day away. Fails until tombstoneOf() in
    // src/backends/redis/stored-result.ts ignores ttl-index entries whose expiry is still ahead.
    expect(await ebb.app.asyncResult(done.id).info()).toMatchObject({ state: "PENDING", expiresAt: null });
  });

  it("serves higher-priority messages first (kombu's Redis order: priority 0 before 3, 6, 9)", async () => {
    // Queue everything before a worker is up, then let one slot take them one at a time.
    const priorities = [9, 9, 6, 0, 3];
    const ids = await pyBatch(
      redis.url,
      priorities.map((p) => ({ task: "interop.echo", args: [`p${p}`], priority: p })),
    );
    expect(ids).toHaveLength(priorities.length);
    expect(await redis.client.llen("celery\x06\x169")).toBe(2);
    await ebb.startWorker(1);
    const order = await eventually(
      () => {
        const ran = runs.filter((r) => ids.includes(r.id));
        return ran.length === ids.length ? ran.map((r) => r.first) : undefined;
      },
      30_000,
      "the Ebb worker to run the 5 priority messages",
    );
    expect(order).toEqual(["p0", "p3", "p6", "p9", "p9"]);
    expect((await pyGetMany(redis.url, ids)).map((r) => r.state)).toEqual(priorities.map(() => "SUCCESS"));
  });
});

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { TaskFailedError, TaskRevokedError } from "../../src/errors.js";
import { createApp } from "../../src/app.js";
import { every } from "../../src/beat/schedules.js";
import { silentLogger } from "../../src/logger.js";
import { describeInterop, ebbCli, ebbSide, eventually, pastExpiry, startPythonWorker, type EbbSide, type PythonWorker } from "./harness.js";

/**
 * Ebb client → Python worker: Ebb publishes (TS API and `ebb call`) on kombu's Redis layout, a real
 * `celery worker` (solo pool) runs the tasks, and Ebb reads the results (get() and `ebb result`).
 */

let py: PythonWorker | undefined;
let ebb: EbbSide;

await describeInterop("Ebb client → Python Celery worker (a redis-server of its own)", (redis) => {
  beforeAll(async () => {
    py = await startPythonWorker(redis.url);
    ebb = ebbSide(redis.url);
  });

  afterAll(async () => {
    await ebb?.close();
    await py?.stop();
  });

  const T = { timeoutMs: 30_000 };

  it("app.sendTask by name: Python runs it and Ebb's get() returns the value", async () => {
    const res = await ebb.app.sendTask<number>("interop.add", [2, 3]);
    await expect(res.get(T)).resolves.toBe(5);
    await py!.waitFor(new RegExp(`Task interop\\.add\\[${res.id}\\] succeeded`));
    expect(await res.info()).toMatchObject({ id: res.id, state: "SUCCESS", result: 5 });
  });

  it("app.sendMany: one chunk framed from one template; Python runs every call with its own args, quotes and non-ASCII included", async () => {
    const argsList = [[1], ["é ☕ 𝄞"], ['say "hi" \\ /'], [{ nested: [1.5, null] }], ["\n\t"]];
    const results = await ebb.app.sendMany("interop.echo", argsList);
    expect(new Set(results.map((r) => r.id)).size).toBe(argsList.length);
    const values = await Promise.all(results.map((r) => r.get(T)));
    expect(values).toEqual(argsList.map((args) => ({ args, kwargs: {} })));
  });

  it("a typed handle whose name matches the Python task sends args, kwargs and a custom task id", async () => {
    // Registered on the client only, for its types and name: the handler never runs here.
    const add = ebb.app.task("interop.add", async (a: number, b: number): Promise<number> => {
      throw new Error(`interop.add(${a}, ${b}) must run on the Python worker`);
    });
    await expect((await add.delay(20, 22)).get(T)).resolves.toBe(42);

    const echo = await ebb.app.sendTask("interop.echo", [1, "two", [3]], {
      kwargs: { flag: true, nested: { x: null, list: [1.5, "é"] } },
      taskId: "ebb-custom-id-1",
    });
    expect(echo.id).toBe("ebb-custom-id-1");
    await expect(echo.get(T)).resolves.toEqual({ args: [1, "two", [3]], kwargs: { flag: true, nested: { x: null, list: [1.5, "é"] } } });
    expect(await redis.client.exists("celery-task-meta-ebb-custom-id-1")).toBe(1);
  });

  it("a Python exception reaches Ebb as TaskFailedError with excType, excModule, message and traceback", async () => {
    const value = await ebb.app.sendTask("interop.fail", [], { kwargs: { kind: "value", message: "bad input" } });
    const err = await value.get(T).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err).toMatchObject({ taskId: value.id, excType: "ValueError", excModule: "builtins", excMessage: ["bad input"] });
    expect((err as TaskFailedError).traceback).toMatch(/ValueError: bad input/);

    const custom = await ebb.app.sendTask("interop.fail", ["custom", "over quota"]);
    await expect(custom.get(T)).rejects.toMatchObject({
      code: "TASK_FAILED",
      excType: "InteropError",
      excModule: "interop_tasks",
      excMessage: ["over quota"],
    });
    expect(await custom.state()).toBe("FAILURE");
  });

  it("countdown from Ebb is honoured by the Python worker (not run before its ETA)", async () => {
    const sentAt = Date.now();
    const res = await ebb.app.sendTask<number>("interop.add", [1, 2], { countdown: "2s" });
    await expect(res.get(T)).resolves.toBe(3);
    const { dateDone } = await res.info();
    // dateDone is Python's clock on the same machine; allow it a little skew, never a second early.
    expect(Date.parse(dateDone!)).toBeGreaterThanOrEqual(sentAt + 2_000 - 100);
  });

  it("a message from Ebb that expires before the busy Python worker gets to it ends REVOKED('expired')", async () => {
    // The solo worker is held (interop.hold) until this message has expired, however slow the machine.
    const gate = `interop:gate:${randomUUID()}`;
    const holder = await ebb.app.sendTask("interop.hold", [gate]);
    await py!.waitFor(new RegExp(`Task interop\\.hold\\[${holder.id}\\] received`));
    const res = await ebb.app.sendTask("interop.add", [1, 1], { expires: "1s" });
    await pastExpiry(Date.now(), 1_000);
    await redis.client.rpush(gate, "go");
    const err = await res.get(T).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskRevokedError);
    expect(err).toMatchObject({ taskId: res.id, reason: "expired" });
    await expect(holder.get(T)).resolves.toBe("go");
  });

  it("Ebb's priorities land in kombu's priority lists and the Python worker serves 0 before 3, 6, 9", async () => {
    // While the solo worker is held, queue four messages; it then takes them highest priority first.
    const gate = `interop:gate:${randomUUID()}`;
    const holder = await ebb.app.sendTask("interop.hold", [gate]);
    await py!.waitFor(new RegExp(`Task interop\\.hold\\[${holder.id}\\] received`));
    const sent: [string, string][] = [];
    for (const p of [9, 6, 0, 3]) sent.push([`p${p}`, (await ebb.app.sendTask("interop.echo", [`p${p}`], { priority: p })).id]);
    expect(await redis.client.llen("celery\x06\x169")).toBe(1);
    await redis.client.rpush(gate, "go");
    for (const [, id] of sent) await ebb.app.asyncResult(id).get(T);
    const log = py!.log();
    const at = (id: string) => log.indexOf(`Task interop.echo[${id}] succeeded`);
    expect([...sent].sort((a, b) => at(a[1]) - at(b[1])).map(([label]) => label)).toEqual(["p0", "p3", "p6", "p9"]);
  });

  it("`ebb call` sends by name and `ebb result --json` reads what Python stored (exit 0 / 1)", async () => {
    const sent = await ebbCli(redis.url, ["call", "interop.add", "--args", "[4, 5]"]);
    expect(sent.stderr).toBe("");
    expect(sent.code).toBe(0);
    const id = sent.json!.id as string;
    const ok = await ebbCli(redis.url, ["result", id, "--wait", "30s"]);
    expect(ok.code).toBe(0);
    expect(ok.json).toMatchObject({ id, state: "SUCCESS", result: 9, tier: null });
    // Celery's default result_expires (1 day) shows as expiresAt, from the key's TTL.
    expect(Date.parse(ok.json!.expiresAt as string) - Date.parse(ok.json!.dateDone as string)).toBeGreaterThan(86_400_000 - 5_000);

    const kw = await ebbCli(redis.url, ["call", "interop.echo", "--args", '["a"]', "--kwargs", '{"k": {"deep": [1, 2]}}']);
    const echoed = await ebbCli(redis.url, ["result", kw.json!.id as string, "--wait", "30s"]);
    expect(echoed.code).toBe(0);
    expect(echoed.json!.result).toEqual({ args: ["a"], kwargs: { k: { deep: [1, 2] } } });

    const bad = await ebbCli(redis.url, ["call", "interop.fail", "--kwargs", '{"kind": "value", "message": "from the CLI"}']);
    const failed = await ebbCli(redis.url, ["result", bad.json!.id as string, "--wait", "30s"]);
    expect(failed.code).toBe(1);
    expect(failed.json).toMatchObject({
      state: "FAILURE",
      result: { exc_type: "ValueError", exc_message: ["from the CLI"], exc_module: "builtins" },
    });
  });

  it("Ebb's beat drives a Python worker: each tick's message runs there (Celery ignores the beat headers)", async () => {
    const app = createApp(
      {
        broker: redis.url,
        backend: redis.url,
        beatSchedule: {
          "celery.backend_cleanup": null,
          "py.add": { task: "interop.add", schedule: every("1s"), args: [2, 3], options: { queue: "celery" } },
        },
      },
      { log: silentLogger },
    );
    try {
      const beat = await app.beat({ maxSleepMs: 200 });
      const running = beat.start();
      const store = await app.scheduleStore();
      await eventually(
        async () => ((await store.history("py.add", 10)).filter((f) => f.sentAt !== null).length >= 2 ? true : undefined),
        15_000,
        "beat to send two ticks",
      );
      await beat.stop();
      await running;
      const fires = (await store.history("py.add", 10)).filter((f) => f.sentAt !== null);
      for (const f of fires) {
        await expect(app.asyncResult(f.taskId).get(T)).resolves.toBe(5);
        await py!.waitFor(new RegExp(`Task interop\\.add\\[${f.taskId}\\] succeeded`));
      }
    } finally {
      await app.close();
    }
  });
});

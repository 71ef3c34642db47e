/**
 * Pattern 4, ignore result: a global switch, per-task overrides both ways, a per-call override,
 * and failures stored even when ignored unless storeErrorsEvenIfIgnored is false.
 *
 * "Not stored" is only meaningful once the worker has handled the message, so every such test
 * runs a concurrency-1 worker and waits for a later marker task on the same queue: when the
 * marker's result is in, the earlier message has been fully handled.
 */
import { describe, expect, it } from "vitest";
import type { App } from "../../src/app.js";
import type { AppConfig } from "../../src/config.js";
import { TaskFailedError } from "../../src/errors.js";
import type { AsyncResult } from "../../src/result.js";
import type { Worker } from "../../src/worker/worker.js";
import { newApp, startWorker } from "./helpers.js";

async function setup(config: AppConfig = {}): Promise<{ app: App; worker: Worker; ran: string[]; afterMarker: () => Promise<void> }> {
  const app = newApp(config);
  const ran: string[] = [];
  const marker = app.task("marker", async () => "m", { ignoreResult: false });
  const { worker } = await startWorker(app, { concurrency: 1 });
  return {
    app,
    worker,
    ran,
    afterMarker: async () => {
      expect(await (await marker.delay()).get({ timeoutMs: 15_000 })).toBe("m");
    },
  };
}

async function expectNotStored(app: App, res: AsyncResult<unknown>): Promise<void> {
  expect(await res.state()).toBe("PENDING");
  expect((await (await app.backend()).lookup(res.id, { graceMs: 7 * 86_400_000 })).kind).toBe("missing");
}

describe("ignoreResult", () => {
  it("global ignoreResult: true — a plain task is not stored, a task with ignoreResult: false is", async () => {
    const { app, worker, ran, afterMarker } = await setup({ ignoreResult: true });
    const quiet = app.task("quiet", async () => void ran.push("quiet"));
    const loud = app.task(
      "loud",
      async () => {
        ran.push("loud");
        return "kept";
      },
      { ignoreResult: false },
    );

    const q = await quiet.delay();
    const l = await loud.delay();
    expect(await l.get({ timeoutMs: 15_000 })).toBe("kept");
    await afterMarker();
    expect(ran).toEqual(["quiet", "loud"]);
    expect(worker.processed).toBeGreaterThanOrEqual(2);
    await expectNotStored(app, q);
    expect(await l.state()).toBe("SUCCESS");
  });

  it("a task with ignoreResult: true is processed but not stored (stays PENDING)", async () => {
    const { app, worker, ran, afterMarker } = await setup();
    const notify = app.task(
      "notify",
      async (to: string) => {
        ran.push(to);
        return "sent";
      },
      { ignoreResult: true },
    );
    const res = await notify.delay("ann@example.com");
    await afterMarker();
    expect(ran).toEqual(["ann@example.com"]);
    expect(worker.processed).toBeGreaterThanOrEqual(1);
    await expectNotStored(app, res);
  });

  it("per call ignoreResult: true drops the result of a task that normally stores it", async () => {
    const { app, ran, afterMarker } = await setup();
    const t = app.task("t", async (n: number) => {
      ran.push(`t${n}`);
      return n;
    });
    const ignored = await t.applyAsync([1], { ignoreResult: true });
    const kept = await t.applyAsync([2]);
    expect(await kept.get({ timeoutMs: 15_000 })).toBe(2);
    await afterMarker();
    expect(ran).toEqual(["t1", "t2"]);
    await expectNotStored(app, ignored);
  });

  it("per call ignoreResult: false stores the result of a task that ignores results", async () => {
    const { app, ran, afterMarker } = await setup();
    const t = app.task(
      "t",
      async (n: number) => {
        ran.push(`t${n}`);
        return n * 10;
      },
      { ignoreResult: true },
    );
    const stored = await t.applyAsync([1], { ignoreResult: false });
    expect(await stored.get({ timeoutMs: 15_000 })).toBe(10);
    const dropped = await t.applyAsync([2]);
    await afterMarker();
    expect(ran).toEqual(["t1", "t2"]);
    await expectNotStored(app, dropped);
  });

  it("per call ignoreResult: false also beats the global switch", async () => {
    const { app, afterMarker } = await setup({ ignoreResult: true });
    const t = app.task("t", async () => "yes");
    const res = await t.applyAsync([], { ignoreResult: false });
    expect(await res.get({ timeoutMs: 15_000 })).toBe("yes");
    await afterMarker();
  });

  it("failures are stored even when results are ignored (task, global and per call)", async () => {
    const { app, afterMarker } = await setup({ ignoreResult: true });
    const fail = () => {
      throw new Error("broken on purpose");
    };
    const byTask = app.task("by.task", fail, { ignoreResult: true });
    const byGlobal = app.task("by.global", fail);
    const byCall = app.task("by.call", fail, { ignoreResult: false });
    const results = [await byTask.delay(), await byGlobal.delay(), await byCall.applyAsync([], { ignoreResult: true })];
    const errors = await Promise.all(
      results.map((r) =>
        r.get({ timeoutMs: 15_000 }).then(
          () => null,
          (e: unknown) => e,
        ),
      ),
    );
    for (const [i, r] of results.entries()) {
      const err = errors[i];
      expect(err).toBeInstanceOf(TaskFailedError);
      expect((err as TaskFailedError).excMessage).toEqual(["broken on purpose"]);
      expect(await r.state()).toBe("FAILURE");
    }
    await afterMarker();
  });

  it("storeErrorsEvenIfIgnored: false on the task — an ignored failure is not stored", async () => {
    const { app, ran, afterMarker } = await setup();
    const t = app.task(
      "silent.fail",
      async () => {
        ran.push("silent");
        throw new Error("nobody hears this");
      },
      { ignoreResult: true, storeErrorsEvenIfIgnored: false },
    );
    const res = await t.delay();
    await afterMarker();
    expect(ran).toEqual(["silent"]);
    await expectNotStored(app, res);
  });

  it("storeErrorsEvenIfIgnored: false on the app — an ignored failure is not stored, a task can turn it back on", async () => {
    const { app, ran, afterMarker } = await setup({ ignoreResult: true, storeErrorsEvenIfIgnored: false });
    const fail = (tag: string) => async () => {
      ran.push(tag);
      throw new Error(tag);
    };
    const quiet = app.task("quiet.fail", fail("quiet"));
    const loud = app.task("loud.fail", fail("loud"), { storeErrorsEvenIfIgnored: true });
    const q = await quiet.delay();
    const l = await loud.delay();
    await expect(l.get({ timeoutMs: 15_000 })).rejects.toBeInstanceOf(TaskFailedError);
    await afterMarker();
    expect(ran).toEqual(["quiet", "loud"]);
    await expectNotStored(app, q);
  });

  it("storeErrorsEvenIfIgnored: false does not drop failures of tasks whose results are not ignored", async () => {
    const { app, afterMarker } = await setup({ storeErrorsEvenIfIgnored: false });
    const t = app.task("plain.fail", async () => {
      throw new Error("visible");
    });
    const res = await t.delay();
    await expect(res.get({ timeoutMs: 15_000 })).rejects.toBeInstanceOf(TaskFailedError);
    await afterMarker();
  });
});

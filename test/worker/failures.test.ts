/**
 * Handlers that throw, and task names the worker does not know.
 */
import { describe, expect, it } from "vitest";
import { EbbError, ResultError, TaskFailedError } from "../../src/errors.js";
import { collectingLogger, newApp, startWorker } from "../app/helpers.js";

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

class PaymentDeclined extends Error {
  override name = "PaymentDeclined";
}

describe("a throwing handler", () => {
  it("stores FAILURE; get() rejects with TaskFailedError carrying excType, excMessage and the traceback", async () => {
    const { log, lines } = collectingLogger();
    const app = newApp({}, log);
    const charge = app.task("charge", async (amount: number) => {
      if (amount > 100) throw new PaymentDeclined(`card declined for ${amount}`);
      return amount;
    });
    await startWorker(app);

    const res = await charge.delay(500);
    const err = await failure(res.get({ timeoutMs: 15_000 }));
    expect(err).toBeInstanceOf(ResultError);
    expect(err).toBeInstanceOf(EbbError);
    expect(err.code).toBe("TASK_FAILED");
    expect(err.taskId).toBe(res.id);
    expect(err.excType).toBe("PaymentDeclined");
    expect(err.excMessage).toEqual(["card declined for 500"]);
    expect(err.excModule).toBe("ebb.js");
    expect(err.traceback).toContain("PaymentDeclined: card declined for 500");
    expect(err.traceback).toMatch(/failures\.test\.ts/); // the stack points at the handler
    expect(err.message).toContain("card declined for 500");

    const info = await res.info();
    expect(info.state).toBe("FAILURE");
    expect(info.result).toEqual({ exc_type: "PaymentDeclined", exc_message: ["card declined for 500"], exc_module: "ebb.js" });
    expect(info.traceback).toBe(err.traceback);
    expect(await res.state()).toBe("FAILURE");

    expect(lines.some((l) => l.level === "error" && l.message.includes("charge") && l.message.includes(res.id))).toBe(true);
  });

  it("a Python builtin error name keeps exc_module builtins (so Celery raises its own class)", async () => {
    const app = newApp();
    const t = app.task("typed", async () => {
      throw new TypeError("wrong type");
    });
    await startWorker(app);
    const res = await t.delay();
    const err = await failure(res.get({ timeoutMs: 15_000 }));
    expect(err.excType).toBe("TypeError");
    expect(err.excModule).toBe("builtins");
  });

  it("a synchronous throw and a thrown non-Error are failures too", async () => {
    const app = newApp();
    const sync = app.task("sync.throw", (n: number) => {
      if (n > 0) throw new RangeError("too big");
      return n;
    });
    const str = app.task("string.throw", async () => {
      throw "just a string";
    });
    await startWorker(app);
    const [a, b] = await Promise.all([sync.delay(1), str.delay()]);
    const [ea, eb] = await Promise.all([failure(a.get({ timeoutMs: 15_000 })), failure(b.get({ timeoutMs: 15_000 }))]);
    expect(ea.excType).toBe("RangeError");
    expect(ea.excMessage).toEqual(["too big"]);
    expect(eb.excMessage).toEqual(["just a string"]);
    expect(eb.traceback).toBeNull();
  });

  it("the worker goes on after a failure", async () => {
    const app = newApp();
    const bad = app.task("bad", async () => {
      throw new Error("x");
    });
    const good = app.task("good", async () => "fine");
    await startWorker(app, { concurrency: 1 });
    const b = await bad.delay();
    const g = await good.delay();
    expect(await g.get({ timeoutMs: 15_000 })).toBe("fine");
    expect(await b.state()).toBe("FAILURE");
  });
});

describe("an unknown task", () => {
  it('sendTask("nope") stores FAILURE naming the task (NotRegistered), logs an error, and the worker keeps running', async () => {
    const { log, lines } = collectingLogger();
    const app = newApp({}, log);
    const add = app.task("add", async (a: number, b: number) => a + b);
    const { worker } = await startWorker(app, { concurrency: 1 });

    const nope = await app.sendTask("nope", [1, 2]);
    const next = await add.delay(2, 3);
    expect(await next.get({ timeoutMs: 15_000 })).toBe(5);

    const err = await failure(nope.get({ timeoutMs: 15_000 }));
    expect(err.excType).toBe("NotRegistered");
    expect(err.excMessage).toEqual(["nope"]);
    expect(err.message).toContain("nope");
    const info = await nope.info();
    expect(info.state).toBe("FAILURE");
    expect(info.result).toEqual({ exc_type: "NotRegistered", exc_message: ["nope"], exc_module: "celery.exceptions" });

    const errors = lines.filter((l) => l.level === "error");
    expect(errors.some((l) => l.message.includes('"nope"') && l.message.includes(nope.id))).toBe(true);
    expect(worker.processed).toBeGreaterThanOrEqual(2);
  });
});

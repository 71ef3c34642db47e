import { randomUUID } from "node:crypto";
import { describe, expect, expectTypeOf, it } from "vitest";
import { createApp } from "../../src/app.js";
import { silentLogger } from "../../src/logger.js";
import type { AsyncResult } from "../../src/result.js";
import { currentTask } from "../../src/task-context.js";
import { newApp, startWorker } from "./helpers.js";

describe("typed calls", () => {
  it("delay() runs the handler on a worker and get() returns its value", async () => {
    const app = newApp();
    const add = app.task("add", async (a: number, b: number) => a + b);
    await startWorker(app);

    const res = await add.delay(2, 3);
    const value: number = await res.get({ timeoutMs: 15_000 });
    expect(value).toBe(5);
    expect(await res.state()).toBe("SUCCESS");
  });

  it("delay and applyAsync are typed from the handler's signature", () => {
    const app = newApp();
    const add = app.task("add", async (a: number, b: number) => a + b);
    const greet = app.task("greet", (name: string, times?: number) => `hi ${name}`.repeat(times ?? 1));

    expectTypeOf(add.delay).parameters.toEqualTypeOf<[number, number]>();
    expectTypeOf(add.delay).returns.toEqualTypeOf<Promise<AsyncResult<number>>>();
    expectTypeOf(add.applyAsync).parameter(0).toEqualTypeOf<[number, number]>();
    expectTypeOf(greet.delay).returns.toEqualTypeOf<Promise<AsyncResult<string>>>();

    // Never called: these lines exist for tsc (npx tsc -p tsconfig.json --noEmit includes test/).
    // If delay() were loosely typed, the @ts-expect-error directives would themselves be errors.
    const typeErrors = () => {
      // @ts-expect-error "x" is not a number
      void add.delay("x", 3);
      // @ts-expect-error add takes two arguments
      void add.delay(2);
      // @ts-expect-error applyAsync takes the arguments as a tuple of the handler's types
      void add.applyAsync(["x", 3]);
      // @ts-expect-error greet's first argument is a string
      void greet.delay(1);
    };
    expect(typeof typeErrors).toBe("function");
    expect(add.name).toBe("add");
  });

  it("applyAsync passes call options: taskId and queue route the message, the worker on that queue runs it", async () => {
    // resultExtended: the stored result records the queue, name and args this test reads back.
    const app = newApp({ resultExtended: true });
    const mul = app.task("mul", async (a: number, b: number) => a * b);
    await startWorker(app, { queues: ["side"] });

    const taskId = randomUUID();
    const res = await mul.applyAsync([6, 7], { taskId, queue: "side", priority: 3, countdown: "0s" });
    expect(res.id).toBe(taskId);
    expect(await res.get({ timeoutMs: 15_000 })).toBe(42);

    const found = await (await app.backend()).lookup(taskId, { graceMs: 0 });
    expect(found.kind).toBe("found");
    if (found.kind === "found") {
      expect(found.result.queue).toBe("side");
      expect(found.result.name).toBe("mul");
      expect(found.result.args).toEqual([6, 7]);
    }
  });

  it("a task's own queue option routes its messages", async () => {
    const app = newApp();
    const t = app.task("routed", async () => currentTask().queue, { queue: "reports" });
    await startWorker(app, { queues: ["reports"] });
    expect(await (await t.delay()).get({ timeoutMs: 15_000 })).toBe("reports");
  });

  it("sendTask sends by name, including to a task only the worker's app registered", async () => {
    const url = `memory://t-${randomUUID()}`;
    const workerApp = createApp({ broker: url, backend: url }, { log: silentLogger });
    workerApp.task("add", async (a: number, b: number) => a + b);
    const client = createApp({ broker: url, backend: url }, { log: silentLogger });
    try {
      await startWorker(workerApp);
      expect(client.tasks.has("add")).toBe(false);
      const res = await client.sendTask<number>("add", [4, 5]);
      expect(await res.get({ timeoutMs: 15_000 })).toBe(9);
      expect(await (await workerApp.sendTask("add", [10, 1])).get({ timeoutMs: 15_000 })).toBe(11);
    } finally {
      await client.close();
      await workerApp.close();
    }
  });

  it("kwargs reach the handler as a last argument and through currentTask().kwargs", async () => {
    const app = newApp();
    const seen: { args: unknown[]; kwargs: unknown }[] = [];
    app.task("echo", async (...args: unknown[]) => {
      seen.push({ args, kwargs: currentTask().kwargs });
      return args;
    });
    await startWorker(app, { concurrency: 1 });

    const withKw = await app.sendTask("echo", [1, "two"], { kwargs: { scale: 10, tag: "x" } });
    expect(await withKw.get({ timeoutMs: 15_000 })).toEqual([1, "two", { scale: 10, tag: "x" }]);
    const without = await app.sendTask("echo", [1, "two"]);
    expect(await without.get({ timeoutMs: 15_000 })).toEqual([1, "two"]);

    expect(seen).toEqual([
      { args: [1, "two", { scale: 10, tag: "x" }], kwargs: { scale: 10, tag: "x" } },
      { args: [1, "two"], kwargs: {} },
    ]);
  });

  it("a typed handler can take kwargs as an optional last parameter", async () => {
    const app = newApp();
    const scale = app.task("scale", async (n: number, opts?: { by?: number }) => n * (opts?.by ?? 1));
    await startWorker(app);
    expect(await (await scale.applyAsync([3], { kwargs: { by: 7 } })).get({ timeoutMs: 15_000 })).toBe(21);
    expect(await (await scale.delay(3)).get({ timeoutMs: 15_000 })).toBe(3);
  });

  it("a handler returning undefined stores null", async () => {
    const app = newApp();
    let ran = false;
    const noop = app.task("noop", async () => {
      ran = true;
    });
    await startWorker(app);
    const res = await noop.delay();
    expect(await res.get({ timeoutMs: 15_000 })).toBeNull();
    expect(ran).toBe(true);
    const info = await res.info();
    expect(info.state).toBe("SUCCESS");
    expect(info.result).toBeNull();
    const found = await (await app.backend()).lookup(res.id, { graceMs: 0 });
    expect(found.kind === "found" && found.result.result).toBeNull();
  });

  it("a plain (non-async) handler works too", async () => {
    const app = newApp();
    const upper = app.task("upper", (s: string) => s.toUpperCase());
    await startWorker(app);
    expect(await (await upper.delay("ebb")).get({ timeoutMs: 15_000 })).toBe("EBB");
  });

  it("JSON values round-trip: objects, arrays, unicode", async () => {
    const app = newApp();
    const id = app.task("id", async (v: unknown) => v);
    await startWorker(app);
    const value = { a: [1, 2.5, null, true], s: "héllo ✓ 日本", nested: { deep: { x: -1 } } };
    expect(await (await id.delay(value)).get({ timeoutMs: 15_000 })).toEqual(value);
  });
});

import { describe, expect, it } from "vitest";
import { newApp, startWorker } from "./helpers.js";

describe("keyword arguments bound by params", () => {
  it("Celery-style kwargs fill the handler's named parameters", async () => {
    const app = newApp();
    app.task("t.add", async (a: number, b: number) => a + b, { params: ["a", "b"] });
    app.task("t.scale", async (x: number, by = 2) => x * by, { params: ["x", "by"] });
    await startWorker(app);
    expect(await (await app.sendTask("t.add", [], { kwargs: { a: 2, b: 3 } })).get({ timeoutMs: 15_000 })).toBe(5);
    expect(await (await app.sendTask("t.add", [2], { kwargs: { b: 40 } })).get({ timeoutMs: 15_000 })).toBe(42);
    // An unfilled parameter is undefined, so the handler's default applies.
    expect(await (await app.sendTask("t.scale", [], { kwargs: { x: 21 } })).get({ timeoutMs: 15_000 })).toBe(42);
  });

  it("an unknown keyword argument is FAILURE TypeError (builtins) naming it, and the handler never runs", async () => {
    const app = newApp();
    let runs = 0;
    app.task(
      "t.add",
      async (a: number, b: number) => {
        runs += 1;
        return a + b;
      },
      { params: ["a", "b"] },
    );
    await startWorker(app);
    const res = await app.sendTask("t.add", [1], { kwargs: { b: 2, c: 3 } });
    await expect(res.get({ timeoutMs: 15_000 })).rejects.toThrow(/got an unexpected keyword argument 'c'/);
    const info = await res.info();
    expect(info.state).toBe("FAILURE");
    expect(info.result).toMatchObject({
      exc_type: "TypeError",
      exc_module: "builtins",
      exc_message: ["t.add() got an unexpected keyword argument 'c'"],
    });
    expect(runs).toBe(0);
  });

  it("a task that declares neither still gets kwargs as a last object", async () => {
    const app = newApp();
    app.task("t.echo", async (...all: unknown[]) => all);
    await startWorker(app);
    expect(await (await app.sendTask("t.echo", [1], { kwargs: { k: "v" } })).get({ timeoutMs: 15_000 })).toEqual([1, { k: "v" }]);
  });
});

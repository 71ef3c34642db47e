import { expect, it, onTestFinished, vi } from "vitest";
import { PostgresBackend } from "../../src/backends/postgres/postgres-backend.js";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import { poolOf, testSchema, type PostgresSchema } from "../support/postgres-schema.js";
import { describeWithService } from "../support/services.js";

// Watching results on PostgreSQL: another process's store wakes a watcher through one shared poll
// per backend, and many watchers cost one query per poll, not one each.

const request = (taskId: string): StoreRequest => ({
  taskId,
  status: "SUCCESS",
  result: 1,
  traceback: null,
  children: [],
  lifetimeMs: 60_000,
  tier: null,
  action: "delete",
});

await describeWithService("postgres", "postgresql result watches", () => {
  async function open(ns: PostgresSchema, pollIntervalMs: number) {
    const backend = await new PostgresBackend({ url: ns.url, pollIntervalMs }).connect();
    onTestFinished(() => backend.close());
    return backend;
  }

  it("a store by another process wakes the watcher within the poll interval, not at its deadline", async () => {
    const ns = await testSchema();
    const watcher = await open(ns, 50);
    const writer = await open(ns, 50);
    const watch = await watcher.watch("w1");
    await watch.changed(1_000); // setup: an id's first poll wakes it once, whatever its state
    const woken = watch.changed(30_000).then(() => "woken" as const);
    await writer.store(request("w1"));
    const deadline = new Promise<"deadline">((resolve) => setTimeout(() => resolve("deadline"), 5_000).unref());
    expect(await Promise.race([woken, deadline])).toBe("woken");
    expect((await watcher.lookup("w1", { graceMs: 1_000 })).kind).toBe("found");
    watch.close();
  });

  it("500 watched results cost one query per poll", async () => {
    const ns = await testSchema();
    const backend = await open(ns, 50);
    const spy = vi.spyOn(poolOf(backend), "query");
    const watches = await Promise.all(Array.from({ length: 500 }, (_, i) => backend.watch(`many-${i}`)));
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const elapsed = performance.now() - started;
    for (const w of watches) w.close();
    const polls = spy.mock.calls.filter(([text]) => text.includes("':held'")).length;
    spy.mockRestore();
    // About one per 50 ms interval (timers may run late, never early), never one per watch.
    expect(polls).toBeGreaterThan(0);
    expect(polls).toBeLessThanOrEqual(Math.ceil(elapsed / 50) + 1);
  });
});

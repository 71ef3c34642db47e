/**
 * A worker's Celery events on the memory broker (whose publishEvent hands them to in-process
 * listeners): off by default; with events on, each task's events in order and the heartbeat
 * around them; the run-time switch that remote control's enable_events/disable_events use.
 */
import { describe, expect, it } from "vitest";
import type { MemoryBroker } from "../../src/brokers/memory/memory-broker.js";
import { ConfigError } from "../../src/errors.js";
import type { CeleryEvent } from "../../src/events/celery-event.js";
import { encodeTaskMessage, makeTaskMessage } from "../../src/protocol/task-message.js";
import { currentTask } from "../../src/task-context.js";
import { createApp } from "../../src/app.js";
import { silentLogger } from "../../src/logger.js";
import { newApp, startWorker } from "../app/helpers.js";
import { waitFor } from "../support/wait.js";

class QuotaError extends Error {}

/** Every event the broker publishes, decoded, with the routing it was published under. */
async function listen(broker: MemoryBroker): Promise<(CeleryEvent & { routing: string })[]> {
  const events: (CeleryEvent & { routing: string })[] = [];
  broker.onEvent((message, routing) => {
    expect(routing.exchange).toBe("celeryev");
    expect(message.headers).toEqual({ hostname: expect.any(String) });
    expect(message.properties).toEqual({ delivery_mode: 1 });
    events.push({ ...(JSON.parse(message.body.toString("utf8")) as CeleryEvent), routing: routing.routingKey });
  });
  return events;
}

function appWithTasks(config = {}) {
  const app = newApp(config);
  const add = app.task("add", async (a: number, b: number) => a + b);
  const fail = app.task("fail", async () => {
    throw new QuotaError("over quota");
  });
  const flaky = app.task("flaky", async () => {
    if (currentTask().retries < 1) currentTask().retry({ countdown: "0s", exc: new QuotaError("again") });
    return "ok";
  });
  return { app, add, fail, flaky };
}

const typesOf = (events: CeleryEvent[], id: string) => events.filter((e) => e.uuid === id).map((e) => e.type);

describe("worker events", () => {
  it("sends none by default", async () => {
    const { app, add } = appWithTasks();
    const events = await listen((await app.broker()) as MemoryBroker);
    const { worker } = await startWorker(app);
    expect(await (await add.delay(1, 2)).get({ timeoutMs: 10_000 })).toBe(3);
    await worker.stop();
    expect(worker.events.enabled).toBe(false);
    expect(events).toEqual([]);
  });

  it("with events on: worker-online first, each task's events in order with Celery's fields, worker-offline last", async () => {
    const { app, add, fail, flaky } = appWithTasks();
    const broker = (await app.broker()) as MemoryBroker;
    const events = await listen(broker);
    const { worker, running } = await startWorker(app, { events: true, concurrency: 1 });
    const ok = await add.delay(2, 3);
    expect(await ok.get({ timeoutMs: 10_000 })).toBe(5);
    const bad = await fail.delay();
    await expect(bad.get({ timeoutMs: 10_000 })).rejects.toThrow(/over quota/);
    const retried = await flaky.delay();
    expect(await retried.get({ timeoutMs: 10_000 })).toBe("ok");
    const expired = makeTaskMessage({ task: "add", args: [1, 1], expires: Date.now() - 1_000 });
    await broker.publish(encodeTaskMessage(expired), { queue: "celery", priority: 0, availableAt: null });
    await waitFor("the expired task's task-revoked", () => events.some((e) => e.type === "task-revoked"));
    await worker.stop();
    await running;

    expect(events[0]).toMatchObject({ type: "worker-online", routing: "worker.online", hostname: worker.name, pid: process.pid });
    expect(events.at(-1)).toMatchObject({ type: "worker-offline", routing: "worker.offline", processed: 5, active: 0 });
    expect(typesOf(events, ok.id)).toEqual(["task-received", "task-started", "task-succeeded"]);
    expect(typesOf(events, bad.id)).toEqual(["task-received", "task-started", "task-failed"]);
    expect(typesOf(events, retried.id)).toEqual([
      "task-received",
      "task-started",
      "task-retried",
      "task-received",
      "task-started",
      "task-succeeded",
    ]);
    expect(typesOf(events, expired.id)).toEqual(["task-received", "task-revoked"]);

    const one = (id: string, type: string) => events.find((e) => e.uuid === id && e.type === type)!;
    expect(one(ok.id, "task-received")).toMatchObject({ name: "add", args: "[2,3]", retries: 0, root_id: ok.id, parent_id: null });
    expect(one(ok.id, "task-succeeded")).toMatchObject({ result: "5", runtime: expect.any(Number), routing: "task.succeeded" });
    expect(one(bad.id, "task-failed")).toMatchObject({
      exception: "QuotaError('over quota')",
      traceback: expect.stringContaining("over quota"),
    });
    expect(one(retried.id, "task-retried")).toMatchObject({ exception: "QuotaError('again')" });
    expect(events.filter((e) => e.uuid === retried.id && e.type === "task-received")[1]).toMatchObject({
      retries: 1,
      parent_id: retried.id,
    });
    expect(one(expired.id, "task-revoked")).toMatchObject({ terminated: false, signum: null, expired: true });
    // One sender: its Lamport clock orders every event, and each event is routed by its type.
    expect(events.map((e) => e.clock)).toEqual(events.map((_, i) => i + 1));
    for (const e of events) expect(e.routing).toBe(e.type.replace("-", "."));
  });

  it("enable() at run time starts the heartbeat and task events; disable() stops task events and the heartbeat goes on", async () => {
    const { app, add } = appWithTasks();
    const events = await listen((await app.broker()) as MemoryBroker);
    const { worker, running } = await startWorker(app, { heartbeatIntervalMs: 20 });
    await (await add.delay(1, 1)).get({ timeoutMs: 10_000 });
    expect(events).toEqual([]);

    expect(worker.events.enable()).toBe(true);
    expect(worker.events.enable()).toBe(false); // already on (Celery: "task events already enabled")
    const seen = await add.delay(2, 2);
    await seen.get({ timeoutMs: 10_000 });
    await waitFor("two heartbeats", () => events.filter((e) => e.type === "worker-heartbeat").length >= 2);
    expect(events[0]!.type).toBe("worker-online");
    expect(typesOf(events, seen.id)).toEqual(["task-received", "task-started", "task-succeeded"]);

    expect(worker.events.disable()).toBe(true);
    expect(worker.events.disable()).toBe(false);
    const unseen = await add.delay(3, 3);
    await unseen.get({ timeoutMs: 10_000 });
    const before = events.filter((e) => e.type === "worker-heartbeat").length;
    await waitFor("a heartbeat after disable()", () => events.filter((e) => e.type === "worker-heartbeat").length > before);
    expect(typesOf(events, unseen.id)).toEqual([]);
    expect(worker.events.heartbeating).toBe(true);

    await worker.stop();
    await running;
    expect(events.at(-1)!.type).toBe("worker-offline");
    expect(worker.events.heartbeating).toBe(false);
  });

  it("the app's workerEvents turns them on for its workers; a worker's own option overrides it", async () => {
    const { app } = appWithTasks({ workerEvents: true });
    expect((await app.worker()).events.enabled).toBe(true);
    expect((await app.worker({ events: false })).events.enabled).toBe(false);
  });

  it("a broker that cannot carry events refuses them with an error naming the broker", async () => {
    const url = "sqlite://:memory:";
    const app = createApp({ broker: url, backend: "memory://events-sqlite" }, { log: silentLogger });
    try {
      await expect(app.worker({ events: true })).rejects.toThrow(ConfigError);
      await expect(app.worker({ events: true })).rejects.toThrow(/sqlite:\/\/:memory: cannot carry Celery events; use a Redis broker/);
      const off = await app.worker();
      expect(off.events.supported).toBe(false);
      expect(() => off.events.enable()).toThrow(/cannot carry Celery events/);
    } finally {
      await app.close();
    }
  });
});

import { describe, expect, it } from "vitest";
import { crontab, every } from "../../src/beat/schedules.js";
import { fireKey } from "../../src/beat/schedule-store.js";
import type { MemoryBroker } from "../../src/brokers/memory/memory-broker.js";
import { ConfigError } from "../../src/errors.js";
import { decodeTaskMessage } from "../../src/protocol/task-message.js";
import { parseTransportMessage } from "../../src/protocol/transport-message.js";
import { readBeatHeaders } from "../../src/protocol/beat-headers.js";
import { currentTask } from "../../src/task-context.js";
import { clockedApp, startWorker } from "../app/helpers.js";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** Everything in the queue, decoded, oldest first. */
async function drain(broker: MemoryBroker, queue = "celery") {
  const out: Array<{
    id: string;
    task: string;
    entry: string;
    tick: number;
    catchUp: boolean;
    expires: number | null;
    kwargs: Record<string, unknown>;
  }> = [];
  for (;;) {
    const got = await broker.fetch([queue], 1000, { visibilityTimeoutMs: 60_000, waitMs: 0 });
    if (got.length === 0) return out;
    for (const d of got) {
      const m = decodeTaskMessage(d.message!, d.queue);
      const b = readBeatHeaders(m.headers)!;
      out.push({
        id: m.id,
        task: m.task,
        entry: b.entry,
        tick: b.tick.getTime(),
        catchUp: b.catchUp,
        expires: m.expires,
        kwargs: m.kwargs,
      });
      await broker.ack(d);
    }
  }
}

describe("beat on one store: any number of beats, each tick sent once", () => {
  it("three beats looking in random order over 10 simulated minutes send every tick exactly once, in order, with no gaps", async () => {
    const { app, clock, broker } = await clockedApp({
      beatSchedule: {
        second: { task: "t.sec", schedule: every("1s") },
        minute: { task: "t.min", schedule: crontab({ minute: "*" }) },
        "celery.backend_cleanup": null,
      },
    });
    app.task("t.sec", async () => 1);
    app.task("t.min", async () => 1);
    clock.set(T0);
    const beats = await Promise.all([app.beat(), app.beat(), app.beat()]);
    // A seeded generator: the same interleaving on every run.
    let seed = 7;
    const rand = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    const end = T0 + 10 * 60_000;
    while (clock() < end) {
      clock.advance(Math.floor(rand() * 700));
      const order = [...beats].sort(() => rand() - 0.5);
      await Promise.all(order.map((b) => b.tick()));
    }
    const sent = await drain(broker);
    const seconds = sent.filter((s) => s.entry === "second").map((s) => s.tick);
    const minutes = sent.filter((s) => s.entry === "minute").map((s) => s.tick);
    // Ticks from T0 (the entries' first sight) to the end: none missing, none twice.
    const expectedSeconds = Array.from({ length: (end - T0) / 1000 }, (_, i) => T0 + (i + 1) * 1000).filter((t) => t <= clock());
    expect(seconds).toEqual(expectedSeconds);
    expect(minutes).toEqual(Array.from({ length: 10 }, (_, i) => T0 + (i + 1) * 60_000));
    expect(sent.every((s) => !s.catchUp)).toBe(true);
    expect(new Set(sent.map((s) => s.id)).size).toBe(sent.length);
  });

  it("a beat that dies between claim and send leaves the fire unsent; another beat sends it under the same key, once", async () => {
    const { app, clock, broker } = await clockedApp({
      beatSchedule: { e: { task: "t", schedule: every("10s") }, "celery.backend_cleanup": null },
    });
    app.task("t", async () => 1);
    clock.set(T0 + 5_000);
    const dying = await app.beat();
    await dying.tick(); // first sight
    clock.set(T0 + 10_000);
    // The send fails after the claim, as a SIGKILL between claim and send would leave it.
    const publishOnce = broker.publishOnce.bind(broker);
    broker.publishOnce = async () => {
      throw new Error("killed");
    };
    const a = await dying.tick();
    broker.publishOnce = publishOnce;
    expect(a.sent).toEqual([]);
    const store = await app.scheduleStore();
    const unsent = await store.unsent(0, clock(), 10);
    expect(unsent.map((u) => u.tick)).toEqual([T0 + 10_000]);

    const other = await app.beat();
    // Within resendAfterMs the other beat leaves it alone (its claimer may still be sending).
    clock.advance(1_000);
    expect((await other.tick()).resent).toBe(0);
    clock.advance(5_000);
    expect((await other.tick()).resent).toBe(1);
    // The first beat's late resend is deduped by the broker under the fire's key.
    await broker
      .publishOnce(
        fireKey("e", T0 + 10_000),
        parseTransportMessage(unsent[0]!.message.raw),
        { queue: "celery", priority: 0, availableAt: null },
        60_000,
      )
      .then((published) => expect(published).toBe(false));
    const sent = await drain(broker);
    expect(sent.map((s) => [s.tick, s.id])).toEqual([[T0 + 10_000, unsent[0]!.taskId]]);
    expect(await store.unsent(0, clock(), 10)).toEqual([]);
    expect((await store.history("e", 1))[0]?.sentAt).toBe(T0 + 16_000);
  });

  it("after every beat was down, the default policy sends one catch-up run for the most recent missed tick, and the handler can tell", async () => {
    const seen: Array<{ entry: string; tick: string; catchUp: boolean }> = [];
    const { app, clock } = await clockedApp({ beatSchedule: { e: { task: "t", schedule: every("1m") }, "celery.backend_cleanup": null } });
    app.task("t", async () => {
      const b = currentTask().beat!;
      seen.push({ entry: b.entry, tick: b.tick.toISOString(), catchUp: b.catchUp });
    });
    clock.set(T0 + 30_000);
    const beat = await app.beat();
    await beat.tick();
    clock.set(T0 + 60_000);
    await beat.tick();
    clock.set(T0 + 5 * 60_000 + 10_000); // down from 1:00 to 5:10
    const r = await beat.tick();
    expect(r.sent.map((s) => [new Date(s.tick).toISOString(), s.catchUp])).toEqual([
      ["2026-01-01T12:04:00.000Z", true],
      ["2026-01-01T12:05:00.000Z", false],
    ]);
    await startWorker(app);
    await expect.poll(() => seen.length, { timeout: 5_000 }).toBe(3);
    expect(seen.sort((a, b) => a.tick.localeCompare(b.tick))).toEqual([
      { entry: "e", tick: "2026-01-01T12:01:00.000Z", catchUp: false },
      { entry: "e", tick: "2026-01-01T12:04:00.000Z", catchUp: true },
      { entry: "e", tick: "2026-01-01T12:05:00.000Z", catchUp: false },
    ]);
    const state = (await (await app.scheduleStore()).states(["e"])).get("e")!;
    expect(state).toMatchObject({ fired: 3, missed: 2, catchUps: 1 });
  });

  it("sends each message as the entry says: args, kwargs, queue, priority, and expires counted from the send", async () => {
    const { app, clock, broker } = await clockedApp({
      beatSchedule: {
        e: {
          task: "t",
          schedule: every("1m"),
          args: [1, 2],
          kwargs: { k: "v" },
          options: { queue: "periodic", priority: 5, expires: "30s" },
        },
        "celery.backend_cleanup": null,
      },
    });
    app.task("t", async () => 1);
    clock.set(T0 + 1_000);
    const beat = await app.beat();
    await beat.tick();
    clock.set(T0 + 60_000);
    await beat.tick();
    const got = await broker.fetch(["periodic"], 10, { visibilityTimeoutMs: 1_000, waitMs: 0 });
    expect(got).toHaveLength(1);
    const m = decodeTaskMessage(got[0]!.message!, got[0]!.queue);
    expect({ args: m.args, kwargs: m.kwargs, priority: m.priority, expires: m.expires }).toEqual({
      args: [1, 2],
      kwargs: { k: "v" },
      priority: 5,
      expires: T0 + 60_000 + 30_000,
    });
  });

  it("stop() ends the loop at once, cutting its sleep short", async () => {
    const { app } = await clockedApp({ beatSchedule: { "celery.backend_cleanup": null, e: { task: "t", schedule: every("1h") } } });
    app.task("t", async () => 1);
    // The loop would sleep an hour (the next tick) if stop() did not wake it.
    const beat = await app.beat({ maxSleepMs: 3_600_000 });
    const running = beat.start();
    await expect.poll(async () => (await (await app.scheduleStore()).states(["e"])).size).toBe(1);
    const stopped = beat
      .stop()
      .then(() => running)
      .then(() => "stopped");
    const late = new Promise((r) => setTimeout(() => r("still running after 2 s"), 2_000).unref());
    expect(await Promise.race([stopped, late])).toBe("stopped");
  });
});

describe("ebb.cleanup takes { tier, olderThan, dryRun }", () => {
  /** A worker (no built-in cleanup entry) over a store holding one expired "api" result, "old". */
  async function workerWithExpiredApiResult() {
    const { app, backend, clock } = await clockedApp({ beatSchedule: { "celery.backend_cleanup": null } });
    await backend.store({
      taskId: "old",
      status: "SUCCESS",
      result: 1,
      traceback: null,
      children: [],
      lifetimeMs: 1_000,
      tier: "api",
      action: "delete",
    });
    clock.advance(5_000);
    await startWorker(app);
    return { app, backend };
  }

  it("a dry run removes nothing and is recorded as one", async () => {
    const { app, backend } = await workerWithExpiredApiResult();
    const res = await app.sendTask("ebb.cleanup", [], { kwargs: { tier: "api", dryRun: true } });
    expect(await res.get({ timeoutMs: 5_000 })).toMatchObject({ cleanup: { matched: 1, deleted: 0 }, dryRun: true });
    expect(await backend.read("old")).not.toBeNull();
    const [run] = await (await app.scheduleStore()).runs(1);
    expect(run).toMatchObject({ task: "ebb.cleanup", taskId: res.id, tier: "api", dryRun: true, matched: 1, removed: 0, errors: [] });
  });

  it.each([
    [{ tier: "typo" }, /unknown tier "typo" \(string\); known tiers: realtime, api, standard, audit, compliance, critical/],
    [{ olderThan: "soon" }, /Expected ebb.cleanup olderThan to be a duration/],
    [{ dryRun: "yes" }, /dryRun must be true or false/],
    [{ tier: "api", days: 3 }, /unexpected keyword argument\(s\) "days"; it takes tier, olderThan and dryRun/],
  ])("bad kwargs %j end in FAILURE naming the problem and remove nothing", async (kwargs, message) => {
    const { app, backend } = await workerWithExpiredApiResult();
    const res = await app.sendTask("ebb.cleanup", [], { kwargs });
    await expect(res.get({ timeoutMs: 5_000 })).rejects.toThrow(message);
    expect(await backend.read("old")).not.toBeNull();
  });
});

describe("the schedule is checked when beat starts", () => {
  it("an entry whose task is not registered (and has no queue) stops beat, naming the entry", async () => {
    const { app } = await clockedApp({ beatSchedule: { nightly: { task: "reports.nightly", schedule: crontab({ hour: 1 }) } } });
    await expect(app.beat()).rejects.toThrow(ConfigError);
    await expect(app.beat()).rejects.toThrow(/beatSchedule\["nightly"\]: task "reports.nightly" is not registered.*options.queue/);
  });

  it("an unregistered task given with options.queue is sent by name (to Python workers, say)", async () => {
    const { app } = await clockedApp({ beatSchedule: { py: { task: "python.only", schedule: every("1m"), options: { queue: "py" } } } });
    await expect(app.beat()).resolves.toBeDefined();
  });
});

describe("the built-in cleanup entry", () => {
  it("is in every app's schedule, daily at 04:00 in the app's time zone, its message expiring after 12 hours, as Celery installs it", async () => {
    const { app } = await clockedApp({ timezone: "Europe/Berlin" });
    const [cleanup] = app.config.beatSchedule;
    expect(cleanup).toMatchObject({
      name: "celery.backend_cleanup",
      task: "celery.backend_cleanup",
      timezone: "Europe/Berlin",
      options: { expires: "12h" },
    });
    expect(String(cleanup!.schedule)).toBe('crontab(minute="0", hour="4")');
    expect(new Date(cleanup!.ticks.next(Date.UTC(2026, 5, 1))!).toISOString()).toBe("2026-06-01T02:00:00.000Z");
  });

  it("can be moved, or removed with null", async () => {
    const moved = (await clockedApp({ beatSchedule: { "celery.backend_cleanup": { schedule: every("10s") } } })).app.config.beatSchedule;
    expect(moved.map((e) => [e.name, e.task, String(e.schedule)])).toEqual([
      ["celery.backend_cleanup", "celery.backend_cleanup", 'every("10s")'],
    ]);
    expect((await clockedApp({ beatSchedule: { "celery.backend_cleanup": null } })).app.config.beatSchedule).toEqual([]);
  });
});

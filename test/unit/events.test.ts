/**
 * Celery events as an Ebb worker builds them, against what a real Celery 5.2.6 worker sent
 * (test/fixtures/celery/events-5.2.6.json): the same keys in the same order with values of the
 * same types, the same framing on Redis, a Lamport clock, and the heartbeat on an injected timer.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fanoutChannel, frameFanoutEnvelope } from "../../src/brokers/redis/kombu-fanout.js";
import { manualClock } from "../../src/clock.js";
import { encodeEvent, localUtcOffset, routingKeyOf, type CeleryEvent, type EventType } from "../../src/events/celery-event.js";
import { EventDispatcher } from "../../src/events/event-dispatcher.js";
import { Heart, type RepeatTimer } from "../../src/events/heartbeat.js";
import { LamportClock } from "../../src/events/lamport-clock.js";
import {
  failedFields,
  receivedFields,
  retriedFields,
  revokedFields,
  startedFields,
  succeededFields,
} from "../../src/events/task-event-fields.js";
import { silentLogger } from "../../src/logger.js";
import { makeTaskMessage } from "../../src/protocol/task-message.js";
import { collectingLogger } from "../app/helpers.js";

interface Fixture {
  envelope: { channel: string; payload: string };
  events: CeleryEvent[];
}
const fixture = JSON.parse(readFileSync(new URL("../fixtures/celery/events-5.2.6.json", import.meta.url), "utf8")) as Fixture;
const celery = (type: string, retry = false): CeleryEvent =>
  fixture.events.find((e) => e.type === type && (type !== "task-received" || (e.retries !== 0) === retry))!;

/** Each key with the JSON type of its value, in order: what a monitor reading the event relies on. */
const shape = (e: Record<string, unknown>) =>
  Object.entries(e).map(([k, v]) => [k, v === null ? "null" : Array.isArray(v) ? "array" : typeof v]);

function dispatcher(sent: CeleryEvent[] = []) {
  const clock = manualClock(Date.UTC(2026, 11, 1, 11, 6, 7, 84));
  const d = new EventDispatcher({
    hostname: "ebb-1@host",
    log: silentLogger,
    clock,
    pid: 4242,
    utcoffset: () => 0,
    publish: async (e) => void sent.push(e),
  });
  return { d, clock, sent };
}

describe("task events have Celery's fields and types", () => {
  const { d } = dispatcher();
  const m = makeTaskMessage({ task: "evtasks.add", args: [2, 3], headers: { argsrepr: "(2, 3)", kwargsrepr: "{}" } });
  const error = Object.assign(new Error("boom"), { name: "ValueError" });

  it.each<[EventType, Record<string, unknown>, boolean?]>([
    ["task-received", receivedFields(m)],
    ["task-received", receivedFields({ ...m, retries: 1, parentId: m.id, eta: Date.now() }), true],
    ["task-started", startedFields(m)],
    ["task-succeeded", succeededFields(m, 5, 13.2)],
    ["task-failed", failedFields(m, error, "Traceback ...")],
    ["task-retried", retriedFields(m, error, "Traceback ...")],
    ["task-revoked", revokedFields(m, { terminated: false, expired: true })],
  ])("%s", (type, fields, retry = false) => {
    expect(shape(d.event(type, fields))).toEqual(shape(celery(type, retry)));
  });

  it("carries the values Celery carries: reprs, seconds, ISO times", () => {
    expect(receivedFields(m)).toMatchObject({ uuid: m.id, name: "evtasks.add", args: "(2, 3)", kwargs: "{}", root_id: m.id, retries: 0 });
    // Without the sender's reprs (not a Celery or Ebb client), Ebb writes them itself.
    const bare = makeTaskMessage({ task: "t", args: ["a", 1], kwargs: { k: null } });
    expect(receivedFields(bare)).toMatchObject({ args: "['a', 1]", kwargs: "{'k': None}" });
    expect(receivedFields({ ...m, eta: Date.UTC(2026, 11, 1, 11, 6, 7, 650), expires: null })).toMatchObject({
      eta: "2026-12-01T11:06:07.650000+00:00",
      expires: null,
    });
    expect(succeededFields(m, "ok", 2738.9)).toEqual({ uuid: m.id, result: "'ok'", runtime: 2.7389 });
    expect(failedFields(m, error, null)).toEqual({ uuid: m.id, exception: "ValueError('boom')", traceback: "" });
    expect(revokedFields(m, { terminated: true, expired: false })).toEqual({ uuid: m.id, terminated: true, signum: 15, expired: false });
    expect(revokedFields(m, { terminated: false, expired: false })).toMatchObject({ signum: null });
  });
});

describe("the event envelope", () => {
  it("puts hostname, utcoffset, pid and the next clock value first, then the fields, timestamp (seconds) and type", () => {
    const { d, clock } = dispatcher();
    const e = d.event("task-started", { uuid: "u1" });
    expect(e).toEqual({
      hostname: "ebb-1@host",
      utcoffset: 0,
      pid: 4242,
      clock: 1,
      uuid: "u1",
      timestamp: clock() / 1000,
      type: "task-started",
    });
    expect(Object.keys(e)).toEqual(["hostname", "utcoffset", "pid", "clock", "uuid", "timestamp", "type"]);
    expect(d.event("task-started", { uuid: "u2" }).clock).toBe(2);
  });

  it("routes by type with dashes as dots, and frames as kombu's fanout publish on Redis, as Celery's worker-online was", () => {
    expect(routingKeyOf("task-succeeded")).toBe("task.succeeded");
    expect(routingKeyOf("worker-heartbeat")).toBe("worker.heartbeat");
    const online = celery("worker-online");
    expect(fanoutChannel("", 0, "celeryev", routingKeyOf(online.type))).toBe(fixture.envelope.channel);
    expect(fanoutChannel("pre:", 3, "celeryev", "task.failed")).toBe("pre:/3.celeryev/task.failed");

    const theirs = JSON.parse(fixture.envelope.payload);
    const ours = JSON.parse(frameFanoutEnvelope(encodeEvent(online), "celeryev", "worker.online", theirs.properties.delivery_tag));
    expect(Object.keys(ours)).toEqual(Object.keys(theirs));
    expect(JSON.stringify(ours.properties)).toBe(JSON.stringify(theirs.properties));
    expect({ ...ours, body: null }).toEqual({ ...theirs, body: null });
    expect(JSON.parse(Buffer.from(ours.body, "base64").toString())).toEqual(JSON.parse(Buffer.from(theirs.body, "base64").toString()));
  });

  it("gives utcoffset as Python's time.timezone // 3600: hours west of UTC, floored", () => {
    const at = (minutesWest: number) => ({ getTimezoneOffset: () => minutesWest }) as Date;
    expect(localUtcOffset(at(0))).toBe(0);
    expect(localUtcOffset(at(300))).toBe(5); // New York, winter
    expect(localUtcOffset(at(-60))).toBe(-1); // Berlin, winter
    expect(localUtcOffset(at(-330))).toBe(-6); // Kolkata: -19800 // 3600 in Python
  });
});

describe("EventDispatcher", () => {
  it("never rejects: a failing transport is logged once, and once more when it works again", async () => {
    const { log, lines } = collectingLogger();
    let up = false;
    const d = new EventDispatcher({
      hostname: "h",
      log,
      target: "redis://localhost:6379/0",
      publish: async () => {
        if (!up) throw new Error("Connection is closed");
      },
    });
    await d.send("task-started", { uuid: "a" });
    await d.send("task-started", { uuid: "b" });
    expect(d.dropped).toBe(2);
    expect(lines).toEqual([
      {
        level: "warn",
        message: expect.stringMatching(/Could not send the Celery event task-started to redis:\/\/localhost:6379\/0: Connection is closed/),
      },
    ]);
    up = true;
    await d.send("task-started", { uuid: "c" });
    expect(d.dropped).toBe(0);
    expect(lines[1]).toEqual({ level: "info", message: expect.stringContaining("again (2 dropped meanwhile)") });
  });
});

describe("LamportClock", () => {
  it("forward() counts up from its start; adjust() jumps past a larger value seen elsewhere", () => {
    const c = new LamportClock();
    expect([c.forward(), c.forward()]).toEqual([1, 2]);
    expect(c.adjust(10)).toBe(11);
    expect(c.adjust(3)).toBe(12);
    expect(c.forward()).toBe(13);
    expect(new LamportClock(41).forward()).toBe(42);
  });
});

/** A timer the test fires by hand. */
function handTimer() {
  const timers = new Set<{ ms: number; fn: () => void }>();
  const timer: RepeatTimer = {
    every(ms, fn) {
      const t = { ms, fn };
      timers.add(t);
      return () => timers.delete(t);
    },
  };
  return {
    timer,
    timers,
    tick: () => {
      for (const t of [...timers]) t.fn();
    },
  };
}

describe("Heart", () => {
  it("sends worker-online, a heartbeat each interval, and worker-offline, with Celery's worker fields", async () => {
    const { d, sent } = dispatcher();
    const { timer, timers, tick } = handTimer();
    let stats = { active: 0, processed: 0 };
    const heart = new Heart({ send: (t, f) => d.send(t, f), stats: () => stats, timer, loadavg: () => [5.971, 6.0601, 3.44] });
    await heart.start();
    expect([...timers].map((t) => t.ms)).toEqual([2_000]);
    await heart.start(); // already running: nothing more
    stats = { active: 2, processed: 7 };
    tick();
    tick();
    await heart.beat();
    await heart.stop();
    await heart.stop();
    expect(timers.size).toBe(0);
    tick();
    expect(sent.map((e) => e.type)).toEqual([
      "worker-online",
      "worker-heartbeat",
      "worker-heartbeat",
      "worker-heartbeat",
      "worker-offline",
    ]);
    expect(sent.map((e) => e.clock)).toEqual([1, 2, 3, 4, 5]);
    expect(sent[1]).toMatchObject({
      freq: 2,
      active: 2,
      processed: 7,
      loadavg: [5.98, 6.07, 3.44],
      sw_ident: "ebb",
      sw_sys: expect.any(String),
    });
    for (const type of ["worker-online", "worker-heartbeat", "worker-offline"])
      expect(shape(sent.find((e) => e.type === type)!)).toEqual(shape(celery(type)));
  });

  it("sends freq in seconds for another interval, and refuses a nonsense one", async () => {
    const { d, sent } = dispatcher();
    const { timer, timers } = handTimer();
    const heart = new Heart({ send: (t, f) => d.send(t, f), stats: () => ({ active: 0, processed: 0 }), timer, intervalMs: 500 });
    await heart.start();
    expect([[...timers][0]!.ms, sent[0]!.freq]).toEqual([500, 0.5]);
    expect(() => new Heart({ send: async () => undefined, stats: () => ({ active: 0, processed: 0 }), intervalMs: 0 })).toThrow(
      /heartbeat intervalMs to be a number of ms > 0, got 0/,
    );
  });
});

import { describe, it, expect } from "vitest";
import { buildCall } from "../../src/call.js";
import { manualClock } from "../../src/clock.js";
import { ConfigError } from "../../src/errors.js";
import { defineTask, type CallOptions, type TaskDefinition } from "../../src/task.js";
import { inTimeZone } from "../support/time-zone.js";

const clock = manualClock(Date.UTC(2026, 10, 24, 2, 0, 0, 0));
const NOW = clock();
const config = { defaultQueue: "celery" };
const handler = () => undefined;

const call = (options: CallOptions = {}, def?: TaskDefinition, now = NOW) => buildCall("probe.add", [2, 3], options, def, config, now);

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

describe("buildCall basics", () => {
  it("builds a plain message for the default queue", () => {
    const { message, publish } = call();
    expect(message).toMatchObject({
      task: "probe.add",
      args: [2, 3],
      kwargs: {},
      eta: null,
      expires: null,
      queue: "celery",
      priority: 0,
      ignoreResult: false,
      retries: 0,
    });
    expect("resultExpiresMs" in message).toBe(false);
    expect("ignoreResultOverride" in message).toBe(false);
    expect(publish).toEqual({ queue: "celery", priority: 0, availableAt: null });
  });

  it("uses taskId and kwargs", () => {
    const { message } = call({ taskId: "my-id", kwargs: { k: "v" } });
    expect(message.id).toBe("my-id");
    expect(message.rootId).toBe("my-id");
    expect(message.kwargs).toEqual({ k: "v" });
  });

  it("rejects args that are not an array, naming the task", () => {
    const e = configErrorOf(() => buildCall("probe.add", "2,3" as unknown as unknown[], {}, undefined, config, NOW));
    expect(e.message).toContain('"probe.add"');
    expect(e.message).toContain('"2,3"');
  });
});

describe("countdown and eta are computed from the passed now", () => {
  it("countdown as a number is seconds", () => {
    const { message, publish } = call({ countdown: 60 });
    expect(message.eta).toBe(NOW + 60_000);
    expect(publish.availableAt).toBe(NOW + 60_000);
  });

  it("countdown as a duration string", () => {
    expect(call({ countdown: "1m30s" }).message.eta).toBe(NOW + 90_000);
    expect(call({ countdown: "500ms" }).message.eta).toBe(NOW + 500);
  });

  it("follows the clock, not the wall", () => {
    const c = manualClock(Date.UTC(2031, 0, 1));
    const first = call({ countdown: 10 }, undefined, c()).message.eta;
    c.advance(5_000);
    const second = call({ countdown: 10 }, undefined, c()).message.eta;
    expect(first).toBe(Date.UTC(2031, 0, 1) + 10_000);
    expect(second! - first!).toBe(5_000);
  });

  it("countdown 0 means now (no eta)", () => {
    expect(call({ countdown: 0 }).message.eta).toBeNull();
  });

  it.each([
    [-1, "-1"],
    ["-5s", '"-5s"'],
    [null, "null"],
    ["soon", '"soon"'],
  ] as const)("rejects countdown %j naming countdown", (value, shown) => {
    const e = configErrorOf(() => call({ countdown: value as CallOptions["countdown"] }));
    expect(e.message).toContain("countdown");
    expect(e.message).toContain(shown);
  });

  it("eta as a Date", () => {
    const eta = new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 678));
    const { message, publish } = call({ eta });
    expect(message.eta).toBe(eta.getTime());
    expect(publish.availableAt).toBe(eta.getTime());
  });

  it("eta as an ISO string with a zone", () => {
    expect(call({ eta: "2030-01-02T03:04:05Z" }).message.eta).toBe(Date.UTC(2030, 0, 2, 3, 4, 5));
    expect(call({ eta: "2030-01-02T05:04:05+02:00" }).message.eta).toBe(Date.UTC(2030, 0, 2, 3, 4, 5));
  });

  it("a naive ISO eta is UTC (as Celery reads it), whatever the process time zone", () => {
    const eta = inTimeZone("Asia/Tokyo", () => call({ eta: "2030-01-02T03:04:05" }).message.eta);
    expect(eta).toBe(Date.UTC(2030, 0, 2, 3, 4, 5));
  });

  it("rejects eta and countdown together", () => {
    const e = configErrorOf(() => call({ eta: new Date(NOW + 1000), countdown: 5 }));
    expect(e.message).toMatch(/eta/);
    expect(e.message).toMatch(/countdown/);
  });

  it("rejects an invalid eta", () => {
    expect(configErrorOf(() => call({ eta: "not a date" })).message).toContain("eta");
    expect(configErrorOf(() => call({ eta: new Date(Number.NaN) })).message).toContain("eta");
  });
});

describe("expires (message expiry) is computed from the passed now", () => {
  it("a number is seconds from now", () => {
    expect(call({ expires: 120 }).message.expires).toBe(NOW + 120_000);
  });

  it("a duration string is from now", () => {
    expect(call({ expires: "5m" }).message.expires).toBe(NOW + 300_000);
  });

  it("a Date is that instant", () => {
    const at = new Date(Date.UTC(2026, 10, 24, 3, 0, 0));
    expect(call({ expires: at }).message.expires).toBe(at.getTime());
  });

  it("an ISO string is that instant", () => {
    expect(call({ expires: "2026-11-24T03:00:47.139Z" }).message.expires).toBe(Date.UTC(2026, 10, 24, 3, 0, 47, 139));
    expect(call({ expires: "2026-11-24T03:00:47+00:00" }).message.expires).toBe(Date.UTC(2026, 10, 24, 3, 0, 47));
  });

  it("a naive ISO expires is UTC, whatever the process time zone", () => {
    const expires = inTimeZone("America/New_York", () => call({ expires: "2026-11-24T03:00:47" }).message.expires);
    expect(expires).toBe(Date.UTC(2026, 10, 24, 3, 0, 47));
  });

  it("does not touch eta", () => {
    const { message, publish } = call({ expires: 120 });
    expect(message.eta).toBeNull();
    expect(publish.availableAt).toBeNull();
  });

  it("rejects a negative or unparseable expires naming expires", () => {
    expect(configErrorOf(() => call({ expires: -5 })).message).toContain("expires");
    expect(configErrorOf(() => call({ expires: "2 fortnights" })).message).toContain('"2 fortnights"');
    expect(configErrorOf(() => call({ expires: new Date(Number.NaN) })).message).toContain("expires");
  });
});

describe("task defaults versus call overrides", () => {
  const def = defineTask("probe.add", handler, { queue: "math", priority: 4, expires: "10m" });

  it("uses the task's queue, priority and expires", () => {
    const { message, publish } = call({}, def);
    expect(message.queue).toBe("math");
    expect(message.priority).toBe(4);
    expect(message.expires).toBe(NOW + 600_000);
    expect(publish).toEqual({ queue: "math", priority: 4, availableAt: null });
  });

  it("call options win over the task's", () => {
    const { message, publish } = call({ queue: "urgent", priority: 9, expires: 30 }, def);
    expect(message.queue).toBe("urgent");
    expect(message.priority).toBe(9);
    expect(message.expires).toBe(NOW + 30_000);
    expect(publish).toEqual({ queue: "urgent", priority: 9, availableAt: null });
  });

  it("expires null on the call overrides the task's expires (never)", () => {
    expect(call({ expires: null }, def).message.expires).toBeNull();
  });

  it("priority 0 on the call overrides the task's", () => {
    expect(call({ priority: 0 }, def).message.priority).toBe(0);
  });

  it("falls back to the app's defaultQueue", () => {
    const { message } = buildCall("t", [], {}, defineTask("t", handler), { defaultQueue: "app-q" }, NOW);
    expect(message.queue).toBe("app-q");
  });

  it.each([10, -1, 1.5, Number.NaN])("rejects priority %s", (priority) => {
    const e = configErrorOf(() => call({ priority }));
    expect(e.message).toContain("priority");
    expect(e.message).toContain(String(priority));
  });
});

describe("resultExpires and ignoreResult travel in the message", () => {
  it("resultExpires → message.resultExpiresMs", () => {
    expect(call({ resultExpires: "1h" }).message.resultExpiresMs).toBe(3_600_000);
    expect(call({ resultExpires: "0s" }).message.resultExpiresMs).toBe(0);
  });

  it("resultExpires null → never, kept as null", () => {
    const { message } = call({ resultExpires: null });
    expect("resultExpiresMs" in message).toBe(true);
    expect(message.resultExpiresMs).toBeNull();
  });

  it("a call resultExpires does not depend on the task's", () => {
    const def = defineTask("probe.add", handler, { resultExpires: "7d" });
    expect(call({ resultExpires: "5m" }, def).message.resultExpiresMs).toBe(300_000);
    expect("resultExpiresMs" in call({}, def).message).toBe(false);
  });

  it("rejects a bad resultExpires naming it", () => {
    const e = configErrorOf(() => call({ resultExpires: "-1h" }));
    expect(e.message).toContain("resultExpires");
    expect(e.message).toContain('"-1h"');
  });

  it("ignoreResult true sets Celery's header and Ebb's override", () => {
    const { message } = call({ ignoreResult: true });
    expect(message.ignoreResult).toBe(true);
    expect(message.ignoreResultOverride).toBe(true);
  });

  it("ignoreResult false is an explicit override (store even if the task ignores)", () => {
    const def = defineTask("probe.add", handler, { ignoreResult: true });
    const { message } = call({ ignoreResult: false }, def);
    expect(message.ignoreResult).toBe(false);
    expect(message.ignoreResultOverride).toBe(false);
  });
});

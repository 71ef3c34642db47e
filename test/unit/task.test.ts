import { describe, it, expect } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { defineTask, type TaskOptions } from "../../src/task.js";

const handler = async (a: number, b: number) => a + b;

function configErrorOf(options: unknown, name = "billing.charge"): ConfigError {
  try {
    defineTask(name, handler as never, options as TaskOptions<never>);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

describe("defineTask defaults", () => {
  it("keeps the name and handler and fills defaults", () => {
    const def = defineTask("math.add", handler as never);
    expect(def.name).toBe("math.add");
    expect(def.handler).toBe(handler);
    expect(def.priority).toBe(0);
    expect(def.retryBackoff).toBe(false);
    expect(def.retryBackoffMaxMs).toBe(600_000);
    for (const key of [
      "resultExpiresMs",
      "resultExpiresFn",
      "tier",
      "ignoreResult",
      "storeErrorsEvenIfIgnored",
      "expiresMs",
      "queue",
      "maxRetries",
      "retryDelayMs",
    ]) {
      expect(key in def, key).toBe(false);
    }
    expect(def.autoretry(new Error("x"))).toBe(false);
  });
});

describe("defineTask resolves options", () => {
  it("durations become milliseconds", () => {
    const def = defineTask("t", handler as never, { resultExpires: "5m", expires: "1h", retryDelay: "30s", retryBackoffMax: "2m" });
    expect(def.resultExpiresMs).toBe(300_000);
    expect(def.expiresMs).toBe(3_600_000);
    expect(def.retryDelayMs).toBe(30_000);
    expect(def.retryBackoffMaxMs).toBe(120_000);
  });

  it("resultExpires null is kept as never (not unset)", () => {
    const def = defineTask("t", handler as never, { resultExpires: null });
    expect("resultExpiresMs" in def).toBe(true);
    expect(def.resultExpiresMs).toBeNull();
  });

  it("resultExpires as a function is kept as resultExpiresFn", () => {
    const fn = (r: unknown) => ((r as number) > 10 ? "1h" : "1d");
    const def = defineTask("t", handler as never, { resultExpires: fn as never });
    expect(def.resultExpiresFn).toBe(fn);
    expect("resultExpiresMs" in def).toBe(false);
  });

  it("keeps tier, ignoreResult, storeErrorsEvenIfIgnored, queue, priority, maxRetries, retryBackoff", () => {
    const def = defineTask("t", handler as never, {
      tier: "audit",
      ignoreResult: false,
      storeErrorsEvenIfIgnored: false,
      queue: "billing.high",
      priority: 9,
      maxRetries: null,
      retryBackoff: true,
    });
    expect(def).toMatchObject({
      tier: "audit",
      ignoreResult: false,
      storeErrorsEvenIfIgnored: false,
      queue: "billing.high",
      priority: 9,
      maxRetries: null,
      retryBackoff: true,
    });
  });

  it("maxRetries 0 is kept", () => {
    expect(defineTask("t", handler as never, { maxRetries: 0 }).maxRetries).toBe(0);
  });
});

describe("autoretryFor", () => {
  class TransientError extends Error {}
  class RateLimited extends TransientError {}
  class Fatal extends Error {}

  it("with classes: retries instances and subclasses, nothing else", () => {
    const def = defineTask("t", handler as never, { autoretryFor: [TransientError, TypeError] });
    expect(def.autoretry(new TransientError("x"))).toBe(true);
    expect(def.autoretry(new RateLimited("x"))).toBe(true);
    expect(def.autoretry(new TypeError("x"))).toBe(true);
    expect(def.autoretry(new Fatal("x"))).toBe(false);
    expect(def.autoretry(new Error("x"))).toBe(false);
    expect(def.autoretry("TransientError")).toBe(false);
    expect(def.autoretry(undefined)).toBe(false);
  });

  it("with an empty list: never", () => {
    expect(defineTask("t", handler as never, { autoretryFor: [] }).autoretry(new TransientError("x"))).toBe(false);
  });

  it("with a predicate: whatever it says, given the error", () => {
    const seen: unknown[] = [];
    const def = defineTask("t", handler as never, {
      autoretryFor: (e) => {
        seen.push(e);
        return e instanceof Error && e.message.startsWith("ECONN");
      },
    });
    const err = new Error("ECONNRESET");
    expect(def.autoretry(err)).toBe(true);
    expect(def.autoretry(new Error("EINVAL"))).toBe(false);
    expect(seen[0]).toBe(err);
    expect(seen.length).toBe(2);
  });
});

describe("defineTask rejects bad input, naming the task and the option", () => {
  it("an empty name", () => {
    expect(() => defineTask("", handler as never)).toThrow(TypeError);
    expect(() => defineTask("", handler as never)).toThrow(/task name/);
  });

  it("a handler that is not a function", () => {
    expect(() => defineTask("billing.charge", "nope" as never)).toThrow(/"billing\.charge".*handler/);
  });

  it.each([
    ["priority", { priority: 10 }],
    ["priority", { priority: -1 }],
    ["priority", { priority: 1.5 }],
    ["maxRetries", { maxRetries: -1 }],
    ["queue", { queue: "has space" }],
    ["tier", { tier: "" }],
    ["ignoreResult", { ignoreResult: "yes" }],
    ["retryBackoff", { retryBackoff: 1 }],
    ["autoretryFor", { autoretryFor: ["TransientError"] }],
    ["autoretryFor", { autoretryFor: "TransientError" }],
  ])("%s: %j", (option, options) => {
    const e = configErrorOf(options);
    expect(e.message).toContain('task "billing.charge"');
    expect(e.message).toContain(option);
  });

  it("an unknown option", () => {
    const e = configErrorOf({ result_expires: "1h" });
    expect(e.message).toContain('task "billing.charge"');
    expect(e.message).toContain('"result_expires"');
  });

  it.each([
    ["expires", { expires: "-5m" }, '"-5m"'],
    ["retryDelay", { retryDelay: null }, "null"],
    ["retryDelay", { retryDelay: "soon" }, '"soon"'],
    ["retryBackoffMax", { retryBackoffMax: "never" }, '"never"'],
  ])("a bad duration for %s shows the value", (option, options, shown) => {
    const e = configErrorOf(options);
    expect(e.message).toContain('task "billing.charge"');
    expect(e.message).toContain(option);
    expect(e.message).toContain(shown);
  });

  it.each([
    ["5 minutes", '"5 minutes"'],
    ["-1h", '"-1h"'],
    [300, "300"],
    [{ hours: 1 }, '{"hours":1}'],
  ])("a bad resultExpires %j shows the value and explains, like every other duration option", (value, shown) => {
    const e = configErrorOf({ resultExpires: value });
    expect(e.message).toContain('task "billing.charge"');
    expect(e.message).toContain("resultExpires");
    expect(e.message).toContain(shown);
  });
});

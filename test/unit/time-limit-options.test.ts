/**
 * Time-limit options wherever they are given (app, task, call, worker, CLI) and their wire form:
 * Celery's `timelimit: [hard, soft]` header, in seconds.
 */
import { describe, expect, it } from "vitest";
import { buildCall } from "../../src/call.js";
import { resolveConfig } from "../../src/config.js";
import { ConfigError, ProtocolError } from "../../src/errors.js";
import { decodeTaskMessage, encodeTaskMessage, makeTaskMessage } from "../../src/protocol/task-message.js";
import { defineTask } from "../../src/task.js";
import { runEbb } from "../support/run-cli.js";
import { newApp } from "../app/helpers.js";

const NOW = Date.UTC(2030, 0, 1);
const config = { defaultQueue: "celery" };

function headerOf(options: Parameters<typeof buildCall>[2], def = defineTask("t", () => null)): unknown {
  return encodeTaskMessage(buildCall("t", [], options, def, config, NOW).message).headers.timelimit;
}

describe("the timelimit header", () => {
  it("is [null, null] without limits, as Celery's client writes it", () => {
    expect(headerOf({})).toEqual([null, null]);
  });

  it("carries the call's limits in seconds, else the task's, each on its own", () => {
    const def = defineTask("t", () => null, { timeLimit: "20s", softTimeLimit: "10s" });
    expect(headerOf({ timeLimit: "4s", softTimeLimit: "1500ms" })).toEqual([4, 1.5]);
    expect(headerOf({}, def)).toEqual([20, 10]);
    expect(headerOf({ softTimeLimit: "1s" }, def)).toEqual([20, 1]);
  });

  it("decodes Celery's [hard, soft] seconds to ms; 0 and null mean none, as Celery's `limit or default`", () => {
    const read = (timelimit: unknown) => {
      const t = encodeTaskMessage(makeTaskMessage({ task: "t", args: [], id: "m1" }));
      const m = decodeTaskMessage({ ...t, headers: { ...t.headers, timelimit } }, "celery");
      return [m.timeLimitMs, m.softTimeLimitMs];
    };
    expect(read([4, 1])).toEqual([4_000, 1_000]);
    expect(read([4.5, null])).toEqual([4_500, null]);
    expect(read([0, 0])).toEqual([null, null]);
    expect(read(null)).toEqual([null, null]);
    expect(read(undefined)).toEqual([null, null]);
  });

  it("a malformed timelimit is a ProtocolError naming the message and the expected shape (the worker dead-letters it, bytes kept)", () => {
    const t = encodeTaskMessage(makeTaskMessage({ task: "t", args: [], id: "m2" }));
    for (const bad of [["4", null], [-1, null], [1], "4"]) {
      const call = () => decodeTaskMessage({ ...t, headers: { ...t.headers, timelimit: bad } }, "celery");
      expect(call).toThrow(ProtocolError);
      expect(call).toThrow(/Message m2 has headers\.timelimit .*; expected \[hard, soft\] in seconds/);
    }
  });

  it("survives a round trip, so a retry keeps the limits it was sent with (as Celery's retry does)", () => {
    const sent = makeTaskMessage({ task: "t", args: [], timeLimitMs: 3_000, softTimeLimitMs: 2_000 });
    const back = decodeTaskMessage(encodeTaskMessage(sent), "celery");
    expect([back.timeLimitMs, back.softTimeLimitMs]).toEqual([3_000, 2_000]);
  });
});

describe("time-limit options say what is wrong", () => {
  it("createApp: a duration > 0; soft shorter than hard", () => {
    expect(resolveConfig({ timeLimit: "5m", softTimeLimit: "4m", trackStarted: true }, {})).toMatchObject({
      timeLimitMs: 300_000,
      softTimeLimitMs: 240_000,
      trackStarted: true,
    });
    expect(() => resolveConfig({ timeLimit: "0s" }, {})).toThrow(/createApp: Expected timeLimit to be a duration longer than 0/);
    expect(() => resolveConfig({ timeLimit: 5 }, {})).toThrow(/write the unit, e\.g\. "5s"/);
    expect(() => resolveConfig({ softTimeLimit: "30d" }, {})).toThrow(/at most 24d/);
    expect(() => resolveConfig({ timeLimit: "1s", softTimeLimit: "2s" }, {})).toThrow(
      /createApp: expected softTimeLimit \(2s\) to be shorter than timeLimit \(1s\)/,
    );
  });

  it("a task's and a call's own pair is checked the same way; mixed levels are not (Celery allows it, the hard limit wins)", () => {
    expect(() => defineTask("t", () => null, { timeLimit: "1s", softTimeLimit: "1s" })).toThrow(
      /task "t": expected softTimeLimit \(1s\) to be shorter than timeLimit \(1s\)/,
    );
    expect(() => defineTask("t", () => null, { timeLimit: null as unknown as string })).toThrow(ConfigError);
    expect(() => buildCall("t", [], { timeLimit: "1s", softTimeLimit: "3s" }, undefined, config, NOW)).toThrow(
      /call options: expected softTimeLimit/,
    );
    const def = defineTask("t", () => null, { timeLimit: "1s" });
    expect(headerOf({ softTimeLimit: "3s" }, def)).toEqual([1, 3]);
  });

  it("a worker's limits (ms) are checked when the worker is made", async () => {
    const app = newApp();
    await expect(app.worker({ timeLimitMs: 0 })).rejects.toThrow(/worker timeLimitMs to be a duration longer than 0/);
    await expect(app.worker({ timeLimitMs: 1_000, softTimeLimitMs: 5_000 })).rejects.toThrow(/worker: expected softTimeLimit \(5s\)/);
  });

  it("ebb worker --time-limit / --soft-time-limit: bad values exit 64 with one line, before loading the app", async () => {
    const zero = await runEbb("worker", "-A", "nope.mjs", "--time-limit", "0");
    expect([zero.code, zero.err]).toEqual([64, expect.stringMatching(/--time-limit to be a duration longer than 0/)]);
    const word = await runEbb("worker", "-A", "nope.mjs", "--soft-time-limit", "soon");
    expect([word.code, word.err]).toEqual([64, expect.stringMatching(/--soft-time-limit to be a duration/)]);
    const order = await runEbb("worker", "-A", "nope.mjs", "--time-limit", "1", "--soft-time-limit", "2");
    expect([order.code, order.err]).toEqual([64, expect.stringMatching(/--soft-time-limit \(2\) to be shorter than --time-limit \(1\)/)]);
  });
});

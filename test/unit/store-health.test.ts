import { EventEmitter } from "node:events";
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { IndexTrimmer } from "../../src/backends/redis/index-trimmer.js";
import { streamLogger } from "../../src/logger.js";
import { ServerClock } from "../../src/redis/server-clock.js";
import { StoreHealth, storeHealth } from "../../src/store-health.js";
import { waitFor } from "../support/wait.js";

function captured() {
  const lines: string[] = [];
  return { lines, log: streamLogger((l) => void lines.push(l.replace(/^\[[^\]]+\] /, "").trimEnd())) };
}

describe("StoreHealth", () => {
  it("says unreachable once for an outage seen by several connections, and recovered once when all are back", () => {
    const { lines, log } = captured();
    let now = 1_000;
    const health = new StoreHealth(log, "Redis at h:1", () => now);
    const [a, b] = [new EventEmitter(), new EventEmitter()];
    health.follow(a, "ebb-broker");
    health.follow(b, "ebb-results");
    a.emit("error", new Error("read ECONNRESET"));
    for (let i = 0; i < 5; i++) {
      a.emit("reconnecting");
      b.emit("reconnecting");
      a.emit("error", new Error("connect ECONNREFUSED"));
    }
    a.emit("ready");
    expect(health.reachable).toBe(false);
    now = 4_200;
    b.emit("ready");
    expect(lines).toEqual([
      "WARN Redis at h:1 is unreachable (ebb-broker: read ECONNRESET); retrying, and commands wait until it is back",
      "INFO Redis at h:1 recovered: reachable again after 3.2 s",
    ]);
    a.emit("reconnecting");
    expect(lines).toHaveLength(3);
  });

  it("a connection closed on purpose during an outage ends it without a recovered line", () => {
    const { lines, log } = captured();
    const health = new StoreHealth(log, "Redis at h:1");
    const a = new EventEmitter();
    health.follow(a, "ebb-broker");
    a.emit("reconnecting");
    a.emit("end");
    expect(health.reachable).toBe(true);
    expect(lines).toHaveLength(1);
  });

  it("logs a component's error once until it succeeds or fails differently, and not during an outage", () => {
    const { lines, log } = captured();
    const health = new StoreHealth(log, "Redis at h:1");
    for (let i = 0; i < 3; i++) health.failed("unacked restorer", new Error("WRONGTYPE"));
    health.failed("unacked restorer", new Error("NOSCRIPT"));
    health.succeeded("unacked restorer");
    health.succeeded("unacked restorer");
    const conn = new EventEmitter();
    health.follow(conn, "ebb-broker");
    conn.emit("reconnecting");
    health.failed("index trimmer", new Error("Connection is closed."));
    expect(lines).toEqual([
      "ERROR unacked restorer (Redis at h:1) failed: WRONGTYPE; it runs again by itself, and this is not logged again until it succeeds or fails differently",
      "ERROR unacked restorer (Redis at h:1) failed: NOSCRIPT; it runs again by itself, and this is not logged again until it succeeds or fails differently",
      "INFO unacked restorer (Redis at h:1) works again",
      "WARN Redis at h:1 is unreachable (ebb-broker: connection closed); retrying, and commands wait until it is back",
    ]);
  });

  it("is shared per logger and server", () => {
    const { log } = captured();
    expect(storeHealth(log, "Redis at h:1")).toBe(storeHealth(log, "Redis at h:1"));
    expect(storeHealth(log, "Redis at h:2")).not.toBe(storeHealth(log, "Redis at h:1"));
    expect(storeHealth(captured().log, "Redis at h:1")).not.toBe(storeHealth(log, "Redis at h:1"));
  });
});

describe("background jobs report their errors by name", () => {
  it("the index trimmer, for trims started by poke()", async () => {
    const { lines, log } = captured();
    let fail = true;
    const trimmer = new IndexTrimmer({
      trimBatch: async () => {
        if (fail) throw new Error("WRONGTYPE");
        return 0;
      },
      now: () => 0,
      graceMs: () => 0,
      intervalMs: 0,
      report: new StoreHealth(log, "Redis at h:1"),
    });
    trimmer.poke();
    await waitFor("the trimmer's error", () => lines.length > 0);
    expect(lines).toEqual([expect.stringMatching(/^ERROR index trimmer \(Redis at h:1\) failed: WRONGTYPE/)]);
    fail = false;
    trimmer.poke();
    await waitFor("the trimmer's recovery", () => lines.length > 1);
    expect(lines[1]).toBe("INFO index trimmer (Redis at h:1) works again");
    await trimmer.stop();
  });

  it("the server clock's refresh, which keeps the last offset and never runs two at once", async () => {
    const { lines, log } = captured();
    let calls = 0;
    let release: () => void = () => undefined;
    const client = {
      time: async (): Promise<[string, string]> => {
        calls++;
        if (calls === 1) return ["1000", "0"];
        if (calls === 2) throw new Error("ERR unknown command 'TIME'");
        // The third refresh hangs (Redis down, the command waits in ioredis's offline queue).
        await new Promise<void>((r) => (release = r));
        return ["1000", "0"];
      },
    } as unknown as Redis;
    const clock = await ServerClock.start(client, { refreshEveryMs: 5, report: new StoreHealth(log, "Redis at h:1") });
    try {
      await waitFor("the refresh's error", () => lines.length > 0);
      expect(lines[0]).toMatch(/^ERROR server clock refresh \(Redis at h:1\) failed: ERR unknown command 'TIME'/);
      await waitFor("the hanging refresh", () => calls >= 3);
      const hung = calls;
      // Ten more intervals pass while it hangs: none starts another TIME.
      await new Promise((r) => setTimeout(r, 50));
      expect(calls).toBe(hung);
      release();
      await waitFor("the refresh's recovery", () => lines.length > 1);
      expect(lines[1]).toBe("INFO server clock refresh (Redis at h:1) works again");
    } finally {
      clock.stop();
    }
  });
});

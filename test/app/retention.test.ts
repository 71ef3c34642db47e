/**
 * The four expiration patterns and their order of precedence (DESIGN "Retention semantics"):
 * dynamic > per call > per task > tier > global; null = never. Each lifetime is read back the
 * way a user reads it: app.asyncResult(id).info(), expiresAt - dateDone.
 */
import { describe, expect, it } from "vitest";
import type { App } from "../../src/app.js";
import type { AsyncResult, ResultInfo } from "../../src/result.js";
import type { Outcome } from "../../src/task.js";
import { currentTask } from "../../src/task-context.js";
import { collectingLogger, DAY, HOUR, lifetimeOf, MINUTE, newApp, SECOND, startWorker } from "./helpers.js";

/**
 * Send every call first, then wait for all of them, then read each back as a user would.
 */
async function run(app: App, ...sends: Promise<AsyncResult<unknown>>[]): Promise<ResultInfo[]> {
  const results = await Promise.all(sends);
  await Promise.all(results.map((r) => r.get({ timeoutMs: 15_000 })));
  return Promise.all(results.map((r) => app.asyncResult(r.id).info()));
}

async function info1(app: App, send: Promise<AsyncResult<unknown>>): Promise<ResultInfo> {
  return (await run(app, send))[0]!;
}

describe("Pattern 1: global resultExpires", () => {
  it("defaults to 24h", async () => {
    const app = newApp();
    const t = app.task("t", async () => "v");
    await startWorker(app);
    const info = await info1(app, t.delay());
    expect(info.state).toBe("SUCCESS");
    expect(lifetimeOf(info)).toBe(86_400_000);
    expect(info.tier).toBeNull();
  });

  it("createApp({ resultExpires }) sets it", async () => {
    const app = newApp({ resultExpires: "2h" });
    const t = app.task("t", async () => "v");
    await startWorker(app);
    expect(lifetimeOf(await info1(app, t.delay()))).toBe(2 * HOUR);
  });

  it("createApp({ resultExpires: null }) means never", async () => {
    const app = newApp({ resultExpires: null });
    const t = app.task("t", async () => "v");
    await startWorker(app);
    const info = await info1(app, t.delay());
    expect(info.dateDone).not.toBeNull();
    expect(info.expiresAt).toBeNull();
  });
});

describe("Pattern 2: per task and per call", () => {
  it("a task's resultExpires overrides the global one", async () => {
    const app = newApp({ resultExpires: "2h" });
    const ticker = app.task("dashboard.tick", async (v: number) => ({ v }), { resultExpires: "5m" });
    const plain = app.task("plain", async () => 1);
    await startWorker(app);
    const [a, b] = await run(app, ticker.delay(42), plain.delay());
    expect(lifetimeOf(a!)).toBe(5 * MINUTE);
    expect(lifetimeOf(b!)).toBe(2 * HOUR);
  });

  it("a call's resultExpires overrides the task's", async () => {
    const app = newApp();
    const ticker = app.task("dashboard.tick", async (v: number) => ({ v }), { resultExpires: "5m" });
    await startWorker(app);
    const [a, b] = await run(app, ticker.applyAsync([1], { resultExpires: "1h" }), ticker.delay(2));
    expect(lifetimeOf(a!)).toBe(HOUR);
    // and only that call: the other one is back to the task's
    expect(lifetimeOf(b!)).toBe(5 * MINUTE);
  });

  it("sendTask carries a per-call resultExpires too", async () => {
    const app = newApp();
    app.task("t", async () => 1);
    await startWorker(app);
    expect(lifetimeOf(await info1(app, app.sendTask("t", [], { resultExpires: "90s" })))).toBe(90 * SECOND);
  });

  it("null on the task means never; a per-call duration overrides it, and a per-call null overrides a task duration", async () => {
    const app = newApp();
    const forever = app.task("forever", async () => 1, { resultExpires: null });
    const short = app.task("short", async () => 1, { resultExpires: "5m" });
    await startWorker(app);
    const [a, b, c, d] = await run(
      app,
      forever.delay(),
      forever.applyAsync([], { resultExpires: "10m" }),
      short.applyAsync([], { resultExpires: null }),
      short.applyAsync([], { resultExpires: "never" }),
    );
    expect(a!.expiresAt).toBeNull();
    expect(a!.dateDone).not.toBeNull();
    expect(lifetimeOf(b!)).toBe(10 * MINUTE);
    expect(c!.expiresAt).toBeNull();
    expect(d!.expiresAt).toBeNull();
  });
});

describe("Tiers", () => {
  it("the built-in realtime tier gives 15m and beats the global resultExpires", async () => {
    const app = newApp({ resultExpires: "2h" });
    const t = app.task("rt", async () => 1, { tier: "realtime" });
    await startWorker(app);
    const info = await info1(app, t.delay());
    expect(lifetimeOf(info)).toBe(15 * MINUTE);
    expect(info.tier).toBe("realtime");
  });

  it("a user tier from createApp({ tiers }) is used, and a user definition overrides a built-in tier", async () => {
    const app = newApp({ tiers: { "audit-eu": { expires: "30d", action: "archive" }, realtime: { expires: "1m" } } });
    const audit = app.task("audit.log", async (e: { who: string }) => e, { tier: "audit-eu" });
    const rt = app.task("rt", async () => 1, { tier: "realtime" });
    await startWorker(app);
    const [a, b] = await run(app, audit.delay({ who: "ann" }), rt.delay());
    expect(lifetimeOf(a!)).toBe(30 * DAY);
    expect(a!.tier).toBe("audit-eu");
    expect(a!.result).toEqual({ who: "ann" });
    expect(lifetimeOf(b!)).toBe(MINUTE);
  });

  it("the built-in critical tier never expires", async () => {
    const app = newApp();
    const t = app.task("crit", async () => 1, { tier: "critical" });
    await startWorker(app);
    const info = await info1(app, t.delay());
    expect(info.expiresAt).toBeNull();
    expect(info.tier).toBe("critical");
  });

  it("a task's resultExpires and a call's resultExpires beat the tier, which still names the result's tier", async () => {
    const app = newApp();
    const t = app.task("rt", async () => 1, { tier: "realtime", resultExpires: "5m" });
    const u = app.task("rt2", async () => 1, { tier: "realtime" });
    await startWorker(app);
    const [byTask, byCall] = await run(app, t.delay(), u.applyAsync([], { resultExpires: "2m" }));
    expect(lifetimeOf(byTask!)).toBe(5 * MINUTE);
    expect(byTask!.tier).toBe("realtime");
    expect(lifetimeOf(byCall!)).toBe(2 * MINUTE);
    expect(byCall!.tier).toBe("realtime");
  });
});

describe("Pattern 3: dynamic", () => {
  interface Report {
    priority: "critical" | "normal";
    size: number;
  }

  it("a function of the result decides (the DESIGN sketch)", async () => {
    const app = newApp();
    const smart = app.task("smart", async (d: Report) => d, {
      // Exactly the DESIGN sketch: the function sees the handler's own result type.
      resultExpires: (r) => (r.priority === "critical" ? "30d" : r.size > 1_000_000 ? "1h" : "1d"),
    });
    await startWorker(app);
    const [critical, big, normal] = await run(
      app,
      smart.delay({ priority: "critical", size: 1 }),
      smart.delay({ priority: "normal", size: 2_000_000 }),
      smart.delay({ priority: "normal", size: 1 }),
    );
    expect(lifetimeOf(critical!)).toBe(30 * DAY);
    expect(lifetimeOf(big!)).toBe(HOUR);
    expect(lifetimeOf(normal!)).toBe(DAY);
  });

  it("the function beats the call's resultExpires and the task's tier", async () => {
    const app = newApp();
    const smart = app.task("smart", async (p: string) => ({ priority: p }), {
      tier: "realtime",
      resultExpires: (r) => (r.priority === "critical" ? "30d" : "1d"),
    });
    await startWorker(app);
    const info = await info1(app, smart.applyAsync(["critical"], { resultExpires: "1m" }));
    expect(lifetimeOf(info)).toBe(30 * DAY);
    expect(info.tier).toBe("realtime");
  });

  it("the function is called for successes only; a failure gets the next rule", async () => {
    const app = newApp();
    const calls: { result: unknown; outcome: Outcome }[] = [];
    const t = app.task(
      "flaky",
      async (fail: boolean) => {
        if (fail) throw new RangeError("nope");
        return "ok";
      },
      {
        tier: "api",
        resultExpires: (result, outcome) => {
          calls.push({ result, outcome });
          return "1m";
        },
      },
    );
    await startWorker(app, { concurrency: 1 });
    const ok = await t.delay(false);
    const bad = await t.delay(true);
    await expect(bad.get({ timeoutMs: 15_000 })).rejects.toThrow("nope");
    expect(lifetimeOf(await ok.info())).toBe(MINUTE);
    const badInfo = await bad.info();
    expect(badInfo.state).toBe("FAILURE");
    expect(lifetimeOf(badInfo)).toBe(6 * HOUR); // the api tier
    expect(calls).toEqual([{ result: "ok", outcome: { taskId: ok.id } }]);
  });

  it("currentTask().setResultExpires() inside the handler beats everything: function, call, task tier", async () => {
    const app = newApp({ resultExpires: "2h" });
    const t = app.task(
      "decides",
      async (lifetime: string | null) => {
        currentTask().setResultExpires(lifetime);
        return "done";
      },
      { tier: "realtime", resultExpires: () => "30d" },
    );
    await startWorker(app);
    const [a, b] = await run(app, t.applyAsync(["42s"], { resultExpires: "1h" }), t.applyAsync([null], { resultExpires: "1h" }));
    expect(lifetimeOf(a!)).toBe(42 * SECOND);
    expect(a!.tier).toBe("realtime");
    expect(b!.expiresAt).toBeNull();
  });

  it("setResultExpires() also beats a plain per-task resultExpires", async () => {
    const app = newApp();
    const t = app.task(
      "decides",
      async () => {
        currentTask().setResultExpires("3d");
      },
      { resultExpires: "5m" },
    );
    await startWorker(app);
    expect(lifetimeOf(await info1(app, t.delay()))).toBe(3 * DAY);
  });

  it("a throwing resultExpires function falls through to the next rule and logs an error naming the task", async () => {
    const { log, lines } = collectingLogger();
    const app = newApp({}, log);
    const boom = () => {
      throw new Error("kaboom in policy");
    };
    const withTier = app.task("fragile.tier", async () => 1, { tier: "api", resultExpires: boom });
    const noTier = app.task("fragile.global", async () => 1, { resultExpires: boom });
    await startWorker(app, { concurrency: 1 });

    const a = await withTier.delay();
    const [ai, bi, ci] = await run(app, Promise.resolve(a), withTier.applyAsync([], { resultExpires: "1h" }), noTier.delay());
    expect(ai!.state).toBe("SUCCESS"); // the task's outcome is not lost
    expect(lifetimeOf(ai!)).toBe(6 * HOUR); // tier "api"
    expect(lifetimeOf(bi!)).toBe(HOUR); // call
    expect(lifetimeOf(ci!)).toBe(DAY); // global

    const errors = lines.filter((l) => l.level === "error" && l.message.includes("kaboom in policy"));
    expect(errors).toHaveLength(3);
    expect(errors[0]!.message).toContain("fragile.tier");
    expect(errors[0]!.message).toContain(a.id);
  });

  it("a resultExpires function returning nonsense falls through too", async () => {
    const { log, lines } = collectingLogger();
    const app = newApp({}, log);
    const t = app.task("bad.policy", async () => 1, { tier: "realtime", resultExpires: () => "5 minutes" });
    await startWorker(app);
    expect(lifetimeOf(await info1(app, t.delay()))).toBe(15 * MINUTE);
    expect(lines.some((l) => l.level === "error" && l.message.includes("bad.policy") && l.message.includes("5 minutes"))).toBe(true);
  });
});

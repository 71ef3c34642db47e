import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { silentLogger } from "../../src/logger.js";
import { explainPolicy } from "../../src/retention/explain.js";

function app() {
  const a = createApp(
    { broker: "memory://explain", resultExpires: "24h", tiers: { "audit-eu": { expires: "30d", action: "archive" } } },
    { log: silentLogger },
  );
  a.task("plain", async () => 1);
  a.task("dashboard.tick", async () => 1, { resultExpires: "5m" });
  a.task("audit.log", async () => 1, { tier: "audit-eu" });
  a.task("audit.short", async () => 1, { tier: "audit", resultExpires: "1h" });
  a.task("keep.forever", async () => 1, { tier: "critical" });
  a.task("smart", async (d: { priority: string }) => d, { resultExpires: (r) => (r.priority === "critical" ? "30d" : "1d") });
  a.task("smart.tiered", async () => 1, { tier: "api", resultExpires: () => "1m" });
  a.task("notify", async () => 1, { ignoreResult: true });
  a.task("notify.quiet", async () => 1, { ignoreResult: true, storeErrorsEvenIfIgnored: false });
  a.task("forever.plain", async () => 1, { resultExpires: null });
  return a;
}

describe("explainPolicy", () => {
  const a = app();

  it("a task's own resultExpires wins over its tier and the global default", () => {
    expect(explainPolicy("dashboard.tick", a)).toMatchObject({
      task: "dashboard.tick",
      tier: null,
      expires: "5m",
      expiresMs: 300_000,
      action: "delete",
      source: "task",
    });
    const short = explainPolicy("audit.short", a);
    expect(short).toMatchObject({ tier: "audit", expires: "1h", action: "archive", source: "task" });
    expect(short.reason).toMatch(/overrides its tier \(tier "audit": 30d, archive\) and the global default \(1d\)/);
    expect(short.reason).toMatch(/then archived before they are deleted/);
  });

  it("a task in a tier gets the tier's lifetime and action", () => {
    const e = explainPolicy("audit.log", a);
    expect(e).toMatchObject({ tier: "audit-eu", expires: "30d", expiresMs: 30 * 86_400_000, action: "archive", source: "tier" });
    expect(e.reason).toContain('tier "audit-eu"');
    expect(explainPolicy("keep.forever", a)).toMatchObject({ tier: "critical", expires: "never", expiresMs: null, source: "tier" });
    expect(explainPolicy("keep.forever", a).reason).toContain("forever: they never expire");
  });

  it("the critical tier never expires, so nothing happens to its results: action none, and the reason says cleanup and archive never take them", () => {
    // BUILTIN_TIERS.critical is { expiresMs: null, action: "archive" }: archive selects only results that may
    // expire, and cleanup removes an archive-tier result only once archived, so even --include-permanent keeps it.
    const e = explainPolicy("keep.forever", a);
    expect(e.action).toBe("none");
    expect(e.reason).toMatch(/archive never takes them, and cleanup never removes them, not even with --include-permanent/);
    expect(e.reason).not.toMatch(/then archived|then deleted/);
    // A never-expiring result of a delete tier can be removed, but only by an explicit --include-permanent run.
    expect(explainPolicy("forever.plain", a)).toMatchObject({ expires: "never", action: "none", source: "task" });
    expect(explainPolicy("forever.plain", a).reason).toMatch(/only ebb cleanup --include-permanent with --older-than removes them/);
  });

  it("a task that ignores its results says that successes are not stored, and what failures get", () => {
    const e = explainPolicy("notify", a);
    expect(e).toMatchObject({ task: "notify", stores: "failures", expires: "1d", action: "delete", source: "global" });
    expect(e.reason).toMatch(/a successful result is not stored at all/);
    expect(e.reason).toMatch(
      /Failures \(and REVOKED for an expired message\) are still stored \(storeErrorsEvenIfIgnored\) and kept 1d, then deleted/,
    );
    expect(e.reason).not.toMatch(/^.*results are kept 1d/);
    const quiet = explainPolicy("notify.quiet", a);
    expect(quiet).toMatchObject({ stores: "nothing" });
    expect(quiet.reason).toMatch(/nothing is stored, not even failures/);
    // A task that stores its results has no "stores" field.
    expect(explainPolicy("plain", a)).not.toHaveProperty("stores");
  });

  it("the app's global ignoreResult applies to tasks that do not say otherwise", () => {
    const g = createApp({ broker: "memory://explain-ignore", ignoreResult: true }, { log: silentLogger });
    g.task("quiet", async () => 1);
    g.task("loud", async () => 1, { ignoreResult: false });
    expect(explainPolicy("quiet", g)).toMatchObject({ stores: "failures" });
    expect(explainPolicy("loud", g)).not.toHaveProperty("stores");
  });

  it("a task with neither gets the global default", () => {
    expect(explainPolicy("plain", a)).toMatchObject({ tier: null, expires: "1d", action: "delete", source: "global" });
    expect(explainPolicy("plain", a).reason).toMatch(/global default resultExpires/);
  });

  it("a resultExpires function is dynamic: it says so and gives the fallback for failures", () => {
    const e = explainPolicy("smart", a);
    expect(e).toMatchObject({
      task: "smart",
      expires: "dynamic",
      source: "dynamic-function",
      fallback: { expires: "1d", expiresMs: 86_400_000, source: "global" },
    });
    expect(e.reason).toMatch(/resultExpires function/);
    expect(e.reason).toMatch(/Failures, and results whose function throws, get the global default: 1d/);
    expect(explainPolicy("smart.tiered", a)).toMatchObject({ tier: "api", fallback: { expires: "6h", source: "tier" } });
  });

  it("an unregistered task gets the global default, and the reason says it is not registered", () => {
    const e = explainPolicy("no.such.task", a);
    expect(e).toMatchObject({ task: "no.such.task", tier: null, expires: "1d", action: "delete", source: "global" });
    expect(e.reason).toMatch(/not a task registered in this app.*global default resultExpires \(1d\)/);
  });

  it("follows the app's global default, never included", () => {
    const never = createApp({ broker: "memory://explain-never", resultExpires: null }, { log: silentLogger });
    expect(explainPolicy("x", never)).toMatchObject({ expires: "never", expiresMs: null, source: "global" });
  });
});

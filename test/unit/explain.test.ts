import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { silentLogger } from "../../src/logger.js";
import { explainPolicy } from "../../src/retention/explain.js";

function app() {
  const a = createApp({ broker: "memory://explain", resultExpires: "24h", tiers: { "audit-eu": { expires: "30d", action: "archive" } } }, { log: silentLogger });
  a.task("plain", async () => 1);
  a.task("dashboard.tick", async () => 1, { resultExpires: "5m" });
  a.task("audit.log", async () => 1, { tier: "audit-eu" });
  a.task("audit.short", async () => 1, { tier: "audit", resultExpires: "1h" });
  a.task("keep.forever", async () => 1, { tier: "critical" });
  a.task("smart", async (d: { priority: string }) => d, { resultExpires: (r) => (r.priority === "critical" ? "30d" : "1d") });
  a.task("smart.tiered", async () => 1, { tier: "api", resultExpires: () => "1m" });
  return a;
}

describe("explainPolicy", () => {
  const a = app();

  it("a task's own resultExpires wins over its tier and the global default", () => {
    expect(explainPolicy("dashboard.tick", a)).toMatchObject({ task: "dashboard.tick", tier: null, expires: "5m", expiresMs: 300_000, action: "delete", source: "task" });
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

  it("a task with neither gets the global default", () => {
    expect(explainPolicy("plain", a)).toMatchObject({ tier: null, expires: "1d", action: "delete", source: "global" });
    expect(explainPolicy("plain", a).reason).toMatch(/global default resultExpires/);
  });

  it("a resultExpires function is dynamic: it says so and gives the fallback for failures", () => {
    const e = explainPolicy("smart", a);
    expect(e).toMatchObject({ task: "smart", expires: "dynamic", source: "dynamic-function", fallback: { expires: "1d", expiresMs: 86_400_000, source: "global" } });
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

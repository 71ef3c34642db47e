import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ebb, scratchDir, writeApp } from "../e2e/cli-harness.js";

// `ebb policy explain` through the real binary: what it prints must be what the worker and
// cleanup really do with the task's results (an ignoreResult task stores no success; the
// critical tier's results are never removed nor archived).

describe("ebb policy explain says what really happens", () => {
  let dir: string;
  let app: string;
  beforeAll(() => {
    dir = scratchDir();
    app = writeApp(
      dir,
      [
        `export const app = createApp({ broker: "memory://policy-explain", resultExpires: "1d" });`,
        `app.task("notify", async () => 1, { ignoreResult: true });`,
        `app.task("notify.quiet", async () => 1, { ignoreResult: true, storeErrorsEvenIfIgnored: false });`,
        `app.task("vault", async () => 1, { tier: "critical" });`,
        `app.task("audit.log", async () => 1, { tier: "audit" });`,
      ].join("\n"),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("an ignoreResult task: successes are not stored; failures are, for the global lifetime", async () => {
    const plain = await ebb(["policy", "explain", "notify", "-A", app]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^notify: successes not stored \(ignoreResult\); failures 1d, delete \(source: global\)\n/);
    expect(plain.stdout).toMatch(/a successful result is not stored at all/);
    expect(plain.stdout).not.toMatch(/results are kept 1d/);
    const json = JSON.parse((await ebb(["policy", "explain", "notify", "-A", app, "--json"])).stdout);
    expect(json).toMatchObject({ task: "notify", stores: "failures", expires: "1d", action: "delete" });
    const quiet = await ebb(["policy", "explain", "notify.quiet", "-A", app]);
    expect(quiet.stdout).toMatch(/^notify\.quiet: not stored \(ignoreResult\) \(source: global\)\n.*nothing is stored, not even failures/);
  });

  it("the critical tier: never expires, and nothing archives or removes it", async () => {
    const plain = await ebb(["policy", "explain", "vault", "-A", app]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^vault: never \(kept forever\), tier critical \(source: tier\)\n/);
    expect(plain.stdout).not.toMatch(/never, archive/);
    expect(plain.stdout).toMatch(/cleanup never removes them, not even with --include-permanent/);
    const json = JSON.parse((await ebb(["policy", "explain", "vault", "-A", app, "--json"])).stdout);
    expect(json).toMatchObject({ tier: "critical", expires: "never", action: "none" });
    // A tier that does expire still says what happens then.
    expect((await ebb(["policy", "explain", "audit.log", "-A", app])).stdout).toMatch(
      /^audit\.log: 30d, archive, tier audit \(source: tier\)\n.*kept 30d, then archived before they are deleted/,
    );
  });
});

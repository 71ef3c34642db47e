import { join } from "node:path";
import Database from "better-sqlite3";
import { beforeAll, describe, expect, it } from "vitest";
import { ebb, scratchDir, writeApp } from "../e2e/cli-harness.js";

/** The CLI contract in README's "CLI" section, through the real binary. */
function expectOneLine(err: string) {
  expect(err.trim().split("\n")).toHaveLength(1);
  expect(err).not.toMatch(/\n\s+at /);
}

let dir: string;

beforeAll(() => {
  dir = scratchDir();
  // An app that names no URLs: createApp() takes EBB_BROKER_URL / EBB_BACKEND_URL.
  writeApp(dir, `export const app = createApp({ tiers: { gold: { expires: "1d", action: "delete" } } });\napp.task("add", async (a, b) => a + b);`, "env-app.mjs");
});

describe("EBB_BROKER_URL / EBB_BACKEND_URL with -A", () => {
  it("are the app's URLs: ebb call -A sends to the broker the variable names", async () => {
    const file = join(dir, "from-env.db");
    const url = `sqlite://${file}`;
    const r = await ebb(["call", "add", "-A", "env-app.mjs", "--args", "[1,2]", "--json"], { cwd: dir, env: { EBB_BROKER_URL: url, EBB_BACKEND_URL: url } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare("SELECT count(*) AS n FROM ebb_messages").get()).toEqual({ n: 1 });
    } finally {
      db.close();
    }
  });

  it("the explicit --broker flag still conflicts with -A (exit 64)", async () => {
    const r = await ebb(["call", "add", "-A", "env-app.mjs", "--broker", `sqlite://${join(dir, "x.db")}`], { cwd: dir });
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("-A");
    expectOneLine(r.stderr);
  });
});

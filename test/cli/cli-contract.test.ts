import { existsSync, writeFileSync } from "node:fs";
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
  writeApp(
    dir,
    `export const app = createApp({ tiers: { gold: { expires: "1d", action: "delete" } } });\napp.task("add", async (a, b) => a + b);`,
    "env-app.mjs",
  );
  writeApp(
    dir,
    `export const app = createApp({ broker: db, backend: db, tiers: { gold: { expires: "1d", action: "delete" } } });\napp.task("add", async (a, b) => a + b);`,
  );
});

function messages(): number {
  if (!existsSync(join(dir, "ebb.db"))) return 0; // never opened: nothing was ever sent
  const db = new Database(join(dir, "ebb.db"), { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM ebb_messages").get() as { n: number }).n;
  } catch {
    return 0; // no table yet: nothing was ever sent
  } finally {
    db.close();
  }
}

describe("EBB_BROKER_URL / EBB_BACKEND_URL with -A", () => {
  it("are the app's URLs: ebb call -A sends to the broker the variable names", async () => {
    const file = join(dir, "from-env.db");
    const url = `sqlite://${file}`;
    const r = await ebb(["call", "add", "-A", "env-app.mjs", "--args", "[1,2]", "--json"], {
      cwd: dir,
      env: { EBB_BROKER_URL: url, EBB_BACKEND_URL: url },
    });
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

describe("unknown names with -A", () => {
  it("ebb call of a task the app does not register exits 64 listing the registered ones, and sends nothing", async () => {
    const before = messages();
    const r = await ebb(["call", "nosuch.task", "-A", "app.mjs"], { cwd: dir });
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('"nosuch.task"');
    expect(r.stderr).toContain("add, celery.backend_cleanup, ebb.cleanup");
    expect(r.stderr).toContain("--force");
    expectOneLine(r.stderr);
    expect(messages()).toBe(before);
  });

  it("ebb call --force sends it by name anyway", async () => {
    const before = messages();
    const r = await ebb(["call", "nosuch.task", "-A", "app.mjs", "--force", "--json"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty("id");
    expect(messages()).toBe(before + 1);
  });

  it("ebb cleanup and ebb archive with a --tier the app does not have exit 64 listing its tiers", async () => {
    for (const args of [
      ["cleanup", "--tier", "typo"],
      ["archive", "--tier", "typo", "--older-than", "1d", "--to", join(dir, "a.jsonl.gz")],
    ]) {
      const r = await ebb([...args, "-A", "app.mjs"], { cwd: dir });
      expect(r.code).toBe(64);
      expect(r.stderr).toContain('"typo"');
      expect(r.stderr).toContain("gold");
      expect(r.stderr).toContain('"none"');
      expectOneLine(r.stderr);
    }
    const ok = await ebb(["cleanup", "--tier", "gold", "--dry-run", "--json", "-A", "app.mjs"], { cwd: dir });
    expect(ok.code).toBe(0);
  });

  it("ebb policy explain of a task the app does not register exits 64 listing the registered ones", async () => {
    const r = await ebb(["policy", "explain", "nosuch", "-A", "app.mjs"], { cwd: dir });
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('"nosuch"');
    expect(r.stderr).toContain("add, celery.backend_cleanup, ebb.cleanup");
    expectOneLine(r.stderr);
  });
});

describe("durations and instants beyond what a date can hold", () => {
  it.each(
    [
      ["call", "add", "--expires", "99999999999d"],
      ["call", "add", "--countdown", "99999999999d"],
      ["call", "add", "--result-expires", "99999999999d"],
      ["call", "add", "--countdown", "999999999999999999999"],
      ["call", "add", "--eta", "+275760-09-13T00:00:00.000Z"],
      ["result", "some-id", "--wait", "99999999999d"],
      ["cleanup", "--older-than", "99999999999d"],
      ["cleanup", "--days", "104000000"],
      ["call", "add", "--eta", "2030-02-30T00:00:00Z"],
      ["archive", "--older-than", "99999999999d", "--to", "a.jsonl.gz"],
    ].map((argv) => [argv.join(" "), argv] as const),
  )("ebb %s exits 64 naming the option", async (_title, argv) => {
    const flag = argv.find((a) => a.startsWith("--"))!;
    const r = await ebb([...argv, "-A", "app.mjs"], { cwd: dir });
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(flag);
    expect(r.stderr).not.toContain("Invalid time value");
    expectOneLine(r.stderr);
  });
});

describe("ebb archive --to a folder that does not exist", () => {
  it.each([[[]], [["--dry-run"]]])("exits 73 naming the folder and saying to create it (%j), creating nothing", async (extra) => {
    const missing = join(dir, "missing-dir");
    const r = await ebb(["archive", "--older-than", "0s", "--to", "missing-dir/a.jsonl.gz", "-A", "app.mjs", ...extra], { cwd: dir });
    expect(r.code).toBe(73);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`the folder ${missing} does not exist`);
    expect(r.stderr).toContain(`mkdir -p ${missing}`);
    expect(r.stderr).not.toContain("ENOENT");
    expectOneLine(r.stderr);
    expect(existsSync(missing)).toBe(false);
  });
});

describe("an app module that does not load", () => {
  it.each([
    ["a syntax error", "export const app = 1;\nexport const x = ;\n", "SyntaxError: Unexpected token ';'"],
    ["a throw at import", "const a = 1;\nthrow new Error('boom at import');\n", "Error: boom at import"],
  ])("with %s exits 78 naming file:line and the error", async (_what, source, message) => {
    const path = join(dir, `broken-${message.length}.mjs`);
    writeFileSync(path, source);
    const r = await ebb(["call", "add", "-A", path], { cwd: dir });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`${path}:2`);
    expect(r.stderr).toContain(message);
    expectOneLine(r.stderr);
  });

  it("that does not exist stays 66", async () => {
    const r = await ebb(["call", "add", "-A", join(dir, "no-such-app.mjs")], { cwd: dir });
    expect(r.code).toBe(66);
    expect(r.stderr).toContain("no-such-app.mjs");
    expectOneLine(r.stderr);
  });
});

describe('a .ts app in a folder whose package.json has no "type" (npm init\'s default)', () => {
  it("loads: ebb call -A app.ts sends the task", async () => {
    const folder = scratchDir();
    writeFileSync(join(folder, "package.json"), JSON.stringify({ name: "x" }));
    writeApp(
      folder,
      `export const app = createApp({ broker: db, backend: db });\napp.task("add", async (a: number, b: number): Promise<number> => a + b);`,
      "app.ts",
    );
    const r = await ebb(["call", "add", "-A", "app.ts", "--args", "[1,2]", "--json"], { cwd: folder });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty("id");
    const db = new Database(join(folder, "ebb.db"), { readonly: true });
    try {
      expect(db.prepare("SELECT count(*) AS n FROM ebb_messages").get()).toEqual({ n: 1 });
    } finally {
      db.close();
    }
  });
});

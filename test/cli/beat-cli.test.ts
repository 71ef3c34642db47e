import { rmSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { ebb, eventually, scratchDir, writeApp } from "../e2e/cli-harness.js";
import { spawn } from "node:child_process";
import { EBB_BIN } from "../e2e/cli-harness.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function appWith(schedule: string, extra = ""): { dir: string; app: string } {
  const dir = scratchDir();
  dirs.push(dir);
  const app = writeApp(
    dir,
    `import { crontab, every } from ${JSON.stringify(new URL("../../dist/src/index.js", import.meta.url).href)};\nexport const app = createApp({ broker: db, backend: db, ${extra} beatSchedule: ${schedule} });\napp.task("t.ok", async () => 1);\n`,
  );
  return { dir, app };
}

describe("a schedule that cannot run stops ebb beat and ebb worker at start-up with exit 78, naming the entry", () => {
  it.each([
    [
      "an invalid cron field",
      `{ nightly: { task: "t.ok", schedule: crontab({ minute: 61 }) } }`,
      "",
      /beatSchedule\["nightly"\]: crontab minute "61": Invalid value for minute: 61/,
    ],
    [
      "an unknown time zone on the entry",
      `{ berlin: { task: "t.ok", schedule: crontab({ hour: 4 }), timezone: "Europe/Berln" } }`,
      "",
      /beatSchedule\["berlin"\]: option timezone: Unknown time zone "Europe\/Berln"/,
    ],
    ["an unknown time zone on the app", `{}`, `timezone: "Mars/Olympus",`, /option timezone: Unknown time zone "Mars\/Olympus"/],
    [
      "an interval of 0",
      `{ fast: { task: "t.ok", schedule: every("0s") } }`,
      "",
      /beatSchedule\["fast"\]: every\(\): the interval must be more than 0/,
    ],
    [
      "a negative interval",
      `{ back: { task: "t.ok", schedule: every("-1m") } }`,
      "",
      /beatSchedule\["back"\]: every\(\).*cannot be negative/,
    ],
    [
      "a task that is not registered and has no queue",
      `{ report: { task: "reports.build", schedule: every("1h") } }`,
      "",
      /beatSchedule\["report"\]: task "reports.build" is not registered/,
    ],
    [
      "an unknown catch-up policy",
      `{ c: { task: "t.ok", schedule: every("1h"), catchUp: "everything" } }`,
      "",
      /beatSchedule\["c"\]: option catchUp: expected "latest", "skip" or \{ all: true/,
    ],
  ])("%s", async (_what, schedule, extra, message) => {
    const { dir, app } = appWith(schedule, extra);
    for (const cmd of [["beat"], ["worker"]]) {
      const r = await ebb([...cmd, "-A", app], { cwd: dir });
      expect({ cmd: cmd[0], code: r.code }).toEqual({ cmd: cmd[0], code: 78 });
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });

  it("--without-beat skips the schedule, so a worker still starts when only beat's entry is wrong", async () => {
    const { dir, app } = appWith(`{ report: { task: "reports.build", schedule: every("1h") } }`);
    const child = spawn(process.execPath, [EBB_BIN, "worker", "-A", app, "--without-beat"], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    child.stderr.on("data", (d) => (log += d));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    await eventually(() => (log.includes("consuming") ? true : undefined), 15_000, `the worker to start:\n${log}`);
    expect(log).not.toMatch(/Beat:/);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});

describe("ebb beat and ebb inspect beat", () => {
  it("beat runs until SIGTERM and exits 0; inspect beat gives the same next runs from two processes", async () => {
    const { dir, app } = appWith(
      `{ often: { task: "t.ok", schedule: every("2s") }, nightly: { task: "t.ok", schedule: crontab({ hour: 3, minute: 30 }), timezone: "America/New_York" } }`,
    );
    const child = spawn(process.execPath, [EBB_BIN, "beat", "-A", app], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    child.stderr.on("data", (d) => (log += d));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    await eventually(() => (/Beat: sent often/.test(log) ? true : undefined), 15_000, `beat to send a tick:\n${log}`);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(log).toMatch(/Beat stopped/);

    const [a, b] = await Promise.all([
      ebb(["inspect", "beat", "-A", app, "--json"], { cwd: dir }),
      ebb(["inspect", "beat", "-A", app, "--json"], { cwd: dir }),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const va = JSON.parse(a.stdout) as {
      entries: Array<{ name: string; nextRun: string; fired: number; lastRun: { state: string } | null; schedule: string }>;
    };
    const vb = JSON.parse(b.stdout) as typeof va;
    expect(va.entries.map((e) => [e.name, e.nextRun])).toEqual(vb.entries.map((e) => [e.name, e.nextRun]));
    expect(va.entries.map((e) => e.name)).toEqual(["celery.backend_cleanup", "often", "nightly"]);
    const often = va.entries.find((e) => e.name === "often")!;
    expect(often.fired).toBeGreaterThanOrEqual(1);
    expect(often.lastRun?.state).toBe("PENDING"); // sent, no worker ran it
    const nightly = va.entries.find((e) => e.name === "nightly")!;
    expect(
      new Date(nightly.nextRun).toLocaleString("en-US", {
        timeZone: "America/New_York",
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      }),
    ).toBe("03:30");

    const plain = await ebb(["inspect", "beat", "-A", app], { cwd: dir });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^entry\s+task\s+schedule\s+next run\s+last run\s+state\s+fired\s+missed\s+catch-ups$/m);
    expect(plain.stdout).toMatch(/^often\s+t\.ok\s+every\("2s"\)/m);
    expect(plain.stdout).toMatch(/Last cleanup: none recorded yet/);
  });

  it("beat and worker say what is missing or contradictory, with exit 64", async () => {
    const noApp = await ebb(["beat"]);
    expect([noApp.code, noApp.stderr]).toEqual([64, expect.stringMatching(/ebb beat needs -A MODULE/)]);
    const both = await ebb(["worker", "-A", "x.mjs", "-B", "--without-beat"]);
    expect([both.code, both.stderr]).toEqual([64, expect.stringMatching(/either -B\/--beat or --without-beat, not both/)]);
  });

  it("inspect beat asks for the app, and inspect names what it can inspect", async () => {
    const noApp = await ebb(["inspect", "beat"]);
    expect([noApp.code, noApp.stderr]).toEqual([64, expect.stringMatching(/ebb inspect beat needs -A MODULE/)]);
    const r = await ebb(["inspect", "everything", "-A", "x.mjs"]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(
      /Ebb can inspect ping, active, reserved, scheduled, registered, stats, revoked, active_queues, query_task, conf, beat/,
    );
  });
});

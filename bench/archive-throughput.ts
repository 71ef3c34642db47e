/**
 * Archive and restore throughput, and peak memory, on SQLite.
 *
 *   node dist/bench/archive-throughput.js [N=1000000]
 *
 * Seeds N results, then times `archive --delete` (scan → write → verify → mark → remove),
 * a whole-file read, `restore --task-id` and `restore --into` a fresh database. Each step runs
 * in its own child process, so "peak RSS" is that step's own high-water mark (getrusage
 * maxrss), not the seeding's. A benchmark, not a test: it prints a table and asserts nothing.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { archiveResults } from "../src/archive/archive-results.js";
import { restoreResults } from "../src/archive/restore-results.js";
import { SqliteBackend } from "../src/backends/sqlite/sqlite-backend.js";
import { openDatabase } from "../src/sqlite/open-database.js";
import { printTable } from "./harness.js";

interface StepReport {
  results: number;
  seconds: number;
  maxRssKb: number;
  /** archive only: seconds spent in each phase. */
  phases?: Record<string, number>;
}

const id = (i: number) => `bench-${String(i).padStart(8, "0")}`;

/** One step, run inside a child process; prints its StepReport as JSON. */
async function step(name: string, dir: string, n: number): Promise<StepReport> {
  const db = join(dir, "ebb.db");
  const file = join(dir, "a.jsonl.gz");
  const t0 = performance.now();
  let results = n;
  let phases: Record<string, number> | undefined;
  if (name === "seed") {
    const store = new SqliteBackend({ url: `sqlite://${db}` });
    const handle = openDatabase(db);
    const now = await store.now();
    const chunk = handle.db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        void store.put(
          {
            taskId: id(i),
            status: "SUCCESS",
            result: { i, total: i * 3, items: [i, i + 1], label: `item ${i}` },
            traceback: null,
            children: [],
            dateDone: now - 3_600_000,
            expiresAt: now + 86_400_000,
            tier: null,
            action: "delete",
            held: false,
            name: "bench.add",
            args: [i, 2],
            kwargs: {},
            worker: "w1@bench",
            retries: 0,
            queue: "celery",
          },
          { replace: false },
        );
      }
    });
    for (let i = 0; i < n; i += 50_000) chunk(i, Math.min(n, i + 50_000));
    handle.close();
    await store.close();
  } else if (name === "archive") {
    const store = new SqliteBackend({ url: `sqlite://${db}` });
    const seen: Record<string, number> = {};
    const out = await archiveResults(store, {
      to: file,
      olderThanMs: 0,
      delete: true,
      source: `sqlite://${db}`,
      onProgress: (p) => (seen[p.phase] ??= performance.now()),
    });
    const end = performance.now();
    await store.close();
    results = out.deleted;
    // A phase runs from its first progress report to the next phase's first (scan: from the start).
    const marks = [t0, seen.verify ?? end, seen["mark-delete"] ?? end, end];
    phases = {
      "scan + write": marks[1]! - marks[0]!,
      "verify (re-read all) + publish": marks[2]! - marks[1]!,
      "mark archived + remove": marks[3]! - marks[2]!,
    };
  } else if (name === "read") {
    const out = await restoreResults(file, {});
    results = out.found;
  } else if (name === "task-id") {
    const out = await restoreResults(file, { taskId: id(Math.floor(n * 0.73)) });
    results = out.found;
  } else if (name === "into") {
    const store = new SqliteBackend({ url: `sqlite://${join(dir, "restored.db")}` });
    const out = await restoreResults(file, { into: store, resultExpiresMs: 86_400_000 });
    await store.close();
    results = out.restored;
  }
  return { results, seconds: (performance.now() - t0) / 1000, maxRssKb: process.resourceUsage().maxRSS, ...(phases ? { phases } : {}) };
}

function runStep(name: string, dir: string, n: number): StepReport {
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--step", name, dir, String(n)], {
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  if (child.status !== 0) throw new Error(`step ${name} failed (${child.status}):\n${child.stderr}`);
  return JSON.parse(child.stdout.trim().split("\n").at(-1)!) as StepReport;
}

export function archiveBench(n: number): Record<string, string>[] {
  const dir = mkdtempSync(join(tmpdir(), "ebb-bench-archive-"));
  try {
    const rows: Record<string, string>[] = [];
    for (const [name, label] of [
      ["seed", "seed (put, 50k per transaction)"],
      ["archive", "archive --delete"],
      ["read", "restore FILE (read all)"],
      ["task-id", "restore --task-id"],
      ["into", "restore --into sqlite"],
    ] as const) {
      const r = runStep(name, dir, n);
      rows.push({
        step: label,
        results: String(r.results),
        seconds: r.seconds.toFixed(2),
        "results/s": name === "task-id" ? "-" : String(Math.round(r.results / r.seconds)),
        "peak RSS": `${(r.maxRssKb / 1024).toFixed(0)} MB`,
      });
      for (const [phase, ms] of Object.entries(r.phases ?? {}))
        rows.push({
          step: `  ${phase}`,
          results: "",
          seconds: (ms / 1000).toFixed(2),
          "results/s": String(Math.round(r.results / (ms / 1000))),
          "peak RSS": "",
        });
    }
    const file = join(dir, "a.jsonl.gz");
    const size = statSync(file).size;
    const idx = statSync(`${file}.idx`).size;
    rows.push({
      step: `archive ${(size / 1e6).toFixed(1)} MB (${(size / n).toFixed(0)} B/result), index ${(idx / 1e6).toFixed(2)} MB`,
      results: "",
      seconds: "",
      "results/s": "",
      "peak RSS": "",
    });
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--step") {
  const [, , , name, dir, n] = process.argv;
  console.log(JSON.stringify(await step(name!, dir!, Number(n))));
  process.exit(0);
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const n = Number(process.argv[2] ?? 1_000_000);
  printTable(`Archive and restore on SQLite, ${n} results (node ${process.version}; each step in its own process)`, archiveBench(n));
}

/**
 * Cleanup of expired results while live traffic runs, on SQLite: Ebb's batched cleanup against
 * Celery's own backend cleanup (one DELETE) on its db+sqlite table, each with a writer storing a
 * result every millisecond. Both run as their own processes; the table compares time taken and
 * the live writes' p99 latency idle and during cleanup.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

interface CleanupRun {
  seconds: number;
  deleted: number;
  p99IdleMs: number;
  p99BusyMs: number;
}

export function cleanupCompare(n: number): Record<string, string>[] {
  const ebbOut = execFileSync(process.execPath, [here("./sqlite-cleanup.js"), String(n)], { encoding: "utf8", maxBuffer: 1 << 24 });
  const ebbLine = ebbOut.split("\n").find((l) => l.startsWith("RESULT "));
  if (!ebbLine) throw new Error(`sqlite-cleanup printed no RESULT line:\n${ebbOut}`);
  const ebb = JSON.parse(ebbLine.slice(7)) as CleanupRun;
  const py = JSON.parse(
    execFileSync("/usr/bin/python3", [here("../../bench/peers/celery_db_cleanup.py"), String(n)], { encoding: "utf8" }).trim(),
  ) as { seconds: number; deleted: number; p99_idle_ms: number; p99_busy_ms: number };
  const celery: CleanupRun = { seconds: py.seconds, deleted: py.deleted, p99IdleMs: py.p99_idle_ms, p99BusyMs: py.p99_busy_ms };
  const row = (name: string, r: CleanupRun) => ({
    system: name,
    removed: String(r.deleted),
    seconds: r.seconds.toFixed(2),
    "removed/s": Math.round(r.deleted / r.seconds).toLocaleString("en-US"),
    "live write p99 idle": `${r.p99IdleMs.toFixed(1)} ms`,
    "p99 during cleanup": `${r.p99BusyMs.toFixed(1)} ms`,
    "during / idle": `${(r.p99BusyMs / Math.max(0.001, r.p99IdleMs)).toFixed(1)}x`,
  });
  return [row("Ebb (batches of 500)", ebb), row("Python Celery (backend.cleanup)", celery)];
}

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Heap after GC of a worker process over time (bench/memory-worker.ts, in a child with
 * --expose-gc): idle for a while, sampled every minute, and running many tasks, sampled every
 * so many tasks. A flat column is the point; a leak shows as a steady climb.
 */
export interface MemoryRun {
  label: string;
  heapMB: number;
  rssMB: number;
  processed: number;
}

export interface MemoryReport {
  samples: MemoryRun[];
  tasksPerSecond?: number;
}

/** The child script; EBB_BENCH_MEMORY_WORKER points at another build's (e.g. one without a fix) to compare. */
function workerScript(): string {
  return process.env.EBB_BENCH_MEMORY_WORKER ?? join(dirname(fileURLToPath(import.meta.url)), "memory-worker.js");
}

export function memoryRun(
  mode: "idle" | "tasks",
  size: number,
  sampleEvery: number,
  onSample: (s: MemoryRun) => void = () => undefined,
): Promise<MemoryReport> {
  const dir = mkdtempSync(join(tmpdir(), `ebb-bench-memory-${mode}-`));
  return new Promise<MemoryReport>((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", workerScript(), mode, dir, String(size), String(sampleEvery)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const report: MemoryReport = { samples: [] };
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      for (let nl = out.indexOf("\n"); nl >= 0; nl = out.indexOf("\n")) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (!line.startsWith("{")) continue;
        const parsed = JSON.parse(line) as MemoryRun & { tasksPerSecond?: number };
        if (parsed.label === "rate") report.tasksPerSecond = parsed.tasksPerSecond;
        else {
          report.samples.push(parsed);
          onSample(parsed);
        }
      }
    });
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("exit", (code) => {
      rmSync(dir, { recursive: true, force: true });
      if (code === 0) resolve(report);
      else reject(new Error(`memory-worker ${mode} exited with ${code}:\n${err.slice(-2000)}`));
    });
  });
}

/** Table rows: each sample, and the change since the first one. */
export function memoryRows(report: MemoryReport): Record<string, string>[] {
  const first = report.samples[0]?.heapMB ?? 0;
  return report.samples.map((s) => ({
    sample: s.label,
    "heap after GC (MB)": s.heapMB.toFixed(2),
    "vs first (MB)": `${s.heapMB - first >= 0 ? "+" : ""}${(s.heapMB - first).toFixed(2)}`,
    "RSS (MB)": s.rssMB.toFixed(1),
    processed: s.processed.toLocaleString("en-US"),
  }));
}

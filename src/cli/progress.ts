import { formatBytes } from "../monitor/size.js";

export interface ProgressCounts {
  scanned: number;
  matched: number;
  deleted: number;
}

export interface ProgressOptions {
  /** Where progress goes (stderr, so --json on stdout stays clean). */
  write: (text: string) => void;
  /** Whether that stream is a terminal (process.stderr.isTTY): redraw one line there; otherwise print one summary at the end. */
  isTTY: boolean;
  /** "cleanup", "archive", ... */
  label: string;
  /** Monotonic ms; injected in tests. */
  now?: () => number;
  /** Least time between two redraws on a TTY. Default 100 ms. */
  redrawMs?: number;
}

export interface ProgressReporter {
  update(counts: ProgressCounts): void;
  /** The closing line: "cleanup: matched N, deleted N, freed X in Ys (R/s)". */
  finish(summary: { matched: number; deleted: number; bytes: number; dryRun: boolean }): void;
}

/**
 * Progress for long operations. A terminal gets one line redrawn in place (carriage return,
 * clear to end of line), at most every redrawMs; a log file or pipe gets a single summary line
 * at the end, never a stream of updates. The rate is results removed per second, or scanned
 * per second on a dry run (which removes nothing).
 */
export function progressReporter(opts: ProgressOptions): ProgressReporter {
  const now = opts.now ?? (() => performance.now());
  const started = now();
  const redrawMs = opts.redrawMs ?? 100;
  let lastDraw = -Infinity;
  let last: ProgressCounts = { scanned: 0, matched: 0, deleted: 0 };
  let drawn = false;
  const rate = (n: number, seconds: number) => (seconds > 0 ? Math.round(n / seconds) : n);
  return {
    update(counts) {
      last = counts;
      if (!opts.isTTY) return;
      const t = now();
      if (t - lastDraw < redrawMs) return;
      lastDraw = t;
      const seconds = (t - started) / 1000;
      opts.write(
        `\r\x1b[K${opts.label}: scanned ${counts.scanned}, matched ${counts.matched}, deleted ${counts.deleted} (${rate(counts.deleted || counts.scanned, seconds)}/s)`,
      );
      drawn = true;
    },
    finish(summary) {
      const seconds = (now() - started) / 1000;
      if (drawn) opts.write("\r\x1b[K");
      const took = `in ${seconds.toFixed(1)}s`;
      const line = summary.dryRun
        ? `${opts.label} (dry run): matched ${summary.matched}, would free ${formatBytes(summary.bytes)}; scanned ${last.scanned} ${took} (${rate(last.scanned, seconds)}/s)`
        : `${opts.label}: matched ${summary.matched}, deleted ${summary.deleted}, freed ${formatBytes(summary.bytes)} ${took} (${rate(summary.deleted, seconds)}/s)`;
      opts.write(`${line}\n`);
    },
  };
}

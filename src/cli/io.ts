import { stringifyCeleryJson } from "../protocol/celery-json.js";

/** Where a command writes. Injected so commands run in-process in tests. */
export interface CliIO {
  /**
   * Write to stdout. Returns a promise when the stream is full (a slow pipe): a command that
   * prints a lot awaits it, so output waits in the pipe rather than piling up in memory.
   */
  out(text: string): void | Promise<void>;
  err(text: string): void | Promise<void>;
  /** Resolves when the process is asked to stop (SIGTERM/SIGINT); the second request means "now". */
  onStop(handler: (count: number) => void): () => void;
  /**
   * End the process now with `code`, whatever is still running (a task that ignores its abort
   * signal): after stdout and stderr drain, or after HARD_EXIT_MS at the latest. In-process
   * callers (tests) record it instead.
   */
  exitNow(code: number): void;
  /** Where `ebb call --stdin` reads its lines; process.stdin when absent. */
  stdin?: NodeJS.ReadableStream;
}

/** How long a hard stop waits for output to drain before it exits anyway. */
export const HARD_EXIT_MS = 500;

/**
 * The exit status when the reader of stdout (or stderr) has gone away, as in `ebb restore FILE |
 * head -1`: the command ends at once and quietly, with 0, as ripgrep does (a reader that has
 * read enough is not a failure, and `set -o pipefail` scripts keep working).
 */
export const CLOSED_PIPE_EXIT = 0;

export const processIO: CliIO = {
  out: (t) => writeTo(process.stdout, t),
  err: (t) => writeTo(process.stderr, t),
  onStop(handler) {
    let count = 0;
    const h = () => handler(++count);
    process.on("SIGTERM", h);
    process.on("SIGINT", h);
    return () => {
      process.off("SIGTERM", h);
      process.off("SIGINT", h);
    };
  },
  exitNow(code) {
    setTimeout(() => process.exit(code), HARD_EXIT_MS);
    void drainOutput().then(() => process.exit(code));
  },
};

/** A write that honours backpressure: undefined when the stream took it, else a promise of 'drain'. */
function writeTo(stream: NodeJS.WriteStream, text: string): void | Promise<void> {
  if (stream.destroyed) return;
  if (stream.write(text)) return;
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

/**
 * Process-level output rules, installed once by main.ts. A closed pipe on stdout (EPIPE: the
 * reader has read enough) ends the process at once and quietly with CLOSED_PIPE_EXIT, never a
 * stack trace; any other stdout error ends it with EX_IOERR (74). stderr carries logs and
 * progress only, so losing it stops nothing: a worker whose log reader died keeps working (and
 * keeps its messages) rather than exiting 0 with tasks in flight.
 */
export function endQuietlyOnClosedPipe(): void {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE" || e.code === "ERR_STREAM_DESTROYED") process.exit(CLOSED_PIPE_EXIT);
    if (!process.stderr.destroyed) process.stderr.write(`ebb: cannot write the output: ${e.message}\n`);
    process.exit(74);
  });
  process.stderr.on("error", () => undefined);
}

/**
 * Resolves once everything written to stdout and stderr has left the process. process.exit()
 * does not wait for a pipe to take queued output, so main.ts awaits this first: a command's
 * output is never cut short at 64 KiB with status 0.
 */
export async function drainOutput(): Promise<void> {
  await Promise.all([process.stdout, process.stderr].map(flushed));
}

function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableLength === 0) return Promise.resolve();
  // Writes complete in order, so the callback of an empty write comes after all earlier ones.
  return new Promise((resolve) => stream.write("", () => resolve()));
}

export function printJson(io: CliIO, value: unknown): void | Promise<void> {
  return io.out(`${stringifyCeleryJson(value)}\n`);
}

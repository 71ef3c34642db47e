/** Where Ebb says what it is doing. Lines, not objects, so that a human and grep can read them. */
export interface Logger {
  /**
   * Per-task lines (received, succeeded), which cost a busy worker more than its tasks do: present
   * only when asked for (EBB_LOG_LEVEL=debug, or `ebb worker -l debug`); callers check first.
   */
  debug?(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The levels, least severe first; a logger prints its level and those after it. Celery's names are accepted too. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A level by name (case-insensitive; "warn" and Celery's "critical"/"fatal" too), or null when it is none. */
export function parseLogLevel(name: string): LogLevel | null {
  const n = name.trim().toLowerCase();
  if (n === "warn") return "warning";
  if (n === "critical" || n === "fatal") return "error";
  return (LOG_LEVELS as readonly string[]).includes(n) ? (n as LogLevel) : null;
}

/**
 * Lines on stderr (or `write`). The level defaults to EBB_LOG_LEVEL, else info: per-task lines
 * (debug) are off unless asked for.
 */
export function streamLogger(write: (line: string) => void = (l) => process.stderr.write(l), options: { level?: LogLevel } = {}): Logger {
  const level = options.level ?? parseLogLevel(process.env.EBB_LOG_LEVEL ?? "") ?? "info";
  const from = LOG_LEVELS.indexOf(level);
  const noop = () => {};
  const line = (at: LogLevel, label: string) =>
    LOG_LEVELS.indexOf(at) < from ? noop : (message: string) => write(`[${new Date().toISOString()}] ${label} ${message}\n`);
  return {
    ...(from === 0 ? { debug: line("debug", "DEBUG") } : {}),
    info: line("info", "INFO"),
    warn: line("warning", "WARN"),
    error: line("error", "ERROR"),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

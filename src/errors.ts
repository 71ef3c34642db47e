/**
 * Every error Ebb throws on purpose is an EbbError with a stable string `code`.
 * Branch on `instanceof` or `code`, never on message text.
 *
 * EbbError
 *  ├── ConfigError             bad option, duration or URL            (EX_USAGE 64 / EX_CONFIG 78)
 *  │    └── UnknownSchemeError  URL scheme with no broker/backend
 *  ├── StoreUnavailableError   the broker or backend cannot be reached (EX_UNAVAILABLE 69)
 *  ├── ProtocolError           a message or stored value is not Celery protocol v2 JSON (EX_DATAERR 65)
 *  ├── NotRegisteredError      a worker got a task name it does not know
 *  ├── MaxRetriesExceededError a task asked to retry past its maxRetries (stored as its FAILURE)
 *  ├── SoftTimeLimitExceeded   a task's soft time limit passed (its signal's reason; FAILURE unless the handler catches it)
 *  ├── TimeLimitExceeded       a task's hard time limit passed (stored as its FAILURE; the handler is no longer waited for)
 *  ├── ResultError             reading a result
 *  │    ├── TimeoutError        get() waited timeoutMs and the result is not ready
 *  │    ├── ResultExpiredError  the result existed and has expired (state EXPIRED)
 *  │    │    └── ResultArchivedError  an archive took it out of the store (state EXPIRED); names the archive file
 *  │    ├── TaskFailedError     the task ended FAILURE; carries excType/excMessage/traceback
 *  │    └── TaskRevokedError    the task ended REVOKED (for example its message expired)
 *  └── RetryRequest            thrown by currentTask().retry(); the worker catches it (not a failure)
 */
export type ErrorCode =
  | "CONFIG"
  | "UNKNOWN_SCHEME"
  | "STORE_UNAVAILABLE"
  | "PROTOCOL"
  | "NOT_REGISTERED"
  | "MAX_RETRIES_EXCEEDED"
  | "SOFT_TIME_LIMIT"
  | "TIME_LIMIT"
  | "TIMEOUT"
  | "RESULT_EXPIRED"
  | "TASK_FAILED"
  | "TASK_REVOKED"
  | "RETRY";

export class EbbError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class ConfigError extends EbbError {
  constructor(message: string, options?: { cause?: unknown; code?: "CONFIG" | "UNKNOWN_SCHEME" }) {
    super(options?.code ?? "CONFIG", message, options);
  }
}

export class UnknownSchemeError extends ConfigError {
  constructor(message: string) {
    super(message, { code: "UNKNOWN_SCHEME" });
  }
}

export class StoreUnavailableError extends EbbError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("STORE_UNAVAILABLE", message, options);
  }
}

/**
 * sendMany() stopped at a chunk that could not be published. `sent` calls (the chunks before it)
 * are in the queue; the rest are not. Code STORE_UNAVAILABLE when the broker could not be
 * reached, as for a single send.
 */
export class PartialSendError extends EbbError {
  readonly sent: number;
  readonly total: number;
  constructor(task: string, sent: number, total: number, cause: unknown) {
    super(
      cause instanceof EbbError ? cause.code : "STORE_UNAVAILABLE",
      `sendMany("${task}") published ${sent} of ${total} calls, then failed: ${(cause as Error)?.message ?? String(cause)}; the first ${sent} are queued, send the remaining ${total - sent} again`,
      { cause },
    );
    this.sent = sent;
    this.total = total;
  }
}

export class ProtocolError extends EbbError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("PROTOCOL", message, options);
  }
}

export class NotRegisteredError extends EbbError {
  readonly taskName: string;
  constructor(taskName: string) {
    super(
      "NOT_REGISTERED",
      `Task "${taskName}" is not registered on this worker; register it with app.task("${taskName}", ...) or route it to a worker that has it`,
    );
    this.taskName = taskName;
  }
}

/**
 * Celery's celery.exceptions.MaxRetriesExceededError (stored with that module, so Python raises
 * its own class). Unlike Celery's message it leaves the call's args and kwargs out: the message
 * reaches logs and stored results, and arguments may hold personal data.
 */
export class MaxRetriesExceededError extends EbbError {
  readonly taskName: string;
  readonly taskId: string;
  readonly retries: number;
  constructor(taskName: string, taskId: string, retries: number) {
    super(
      "MAX_RETRIES_EXCEEDED",
      `Can't retry ${taskName}[${taskId}]: max retries (${retries}) exceeded; raise the task's maxRetries, or pass retry({ exc }) to store the cause instead`,
    );
    this.taskName = taskName;
    this.taskId = taskId;
    this.retries = retries;
  }
}

/**
 * billiard's SoftTimeLimitExceeded (Celery's workers raise it in the task): the reason of the
 * task's signal when its soft time limit passes. Stored as Celery stores it, with no arguments
 * (exc_message []), so a Python client raises its own class.
 */
export class SoftTimeLimitExceeded extends EbbError {
  readonly excMessage: unknown[] = [];
  readonly limitMs: number;
  constructor(taskName: string, taskId: string, limitMs: number) {
    super(
      "SOFT_TIME_LIMIT",
      `Task ${taskName}[${taskId}] exceeded its soft time limit (${limitMs / 1000}s); finish or clean up now: its signal is aborted`,
    );
    this.limitMs = limitMs;
  }
}

/**
 * billiard's TimeLimitExceeded: a task's hard time limit passed. The worker stores it as the
 * task's FAILURE with the limit in seconds as its only argument (exc_message [1], as Celery),
 * acks the message and stops waiting for the handler.
 */
export class TimeLimitExceeded extends EbbError {
  readonly excMessage: unknown[];
  readonly limitMs: number;
  constructor(taskName: string, taskId: string, limitMs: number) {
    super(
      "TIME_LIMIT",
      `Task ${taskName}[${taskId}] exceeded its hard time limit (${limitMs / 1000}s); FAILURE was stored and nothing the handler does now is stored`,
    );
    this.excMessage = [limitMs / 1000];
    this.limitMs = limitMs;
  }
}

export class ResultError extends EbbError {
  readonly taskId: string;
  constructor(code: ErrorCode, taskId: string, message: string) {
    super(code, message);
    this.taskId = taskId;
  }
}

export class TimeoutError extends ResultError {
  constructor(taskId: string, timeoutMs: number) {
    super(
      "TIMEOUT",
      taskId,
      `Result ${taskId} was not ready after ${timeoutMs} ms; pass a larger get({ timeoutMs }) or check that a worker is running`,
    );
  }
}

export class ResultExpiredError extends ResultError {
  readonly expiredAt: Date;
  constructor(taskId: string, expiredAt: Date) {
    super(
      "RESULT_EXPIRED",
      taskId,
      `Result ${taskId} expired at ${expiredAt.toISOString()}; give the task a longer resultExpires or a tier that keeps it`,
    );
    this.expiredAt = expiredAt;
  }
}

/**
 * The result is no longer in the store because `ebb archive --delete` (or the built-in cleanup)
 * moved it to an archive file, possibly before it expired. A ResultExpiredError (same code, state
 * EXPIRED, as Celery knows it), which also says where the result is and how to get it back.
 */
export class ResultArchivedError extends ResultExpiredError {
  /** The archive file that holds the result. */
  readonly archiveFile: string;
  /** When that archive was written. */
  readonly archivedAt: Date;
  constructor(taskId: string, expiredAt: Date, archive: { file: string; at: Date }) {
    super(taskId, expiredAt);
    this.archiveFile = archive.file;
    this.archivedAt = archive.at;
    this.message = `Result ${taskId} was archived to ${archive.file} at ${archive.at.toISOString()} and removed from the store; read it with \`ebb restore ${archive.file} --task-id ${taskId}\` (add --into URL to put it back)`;
  }
}

export class TaskFailedError extends ResultError {
  readonly excType: string;
  readonly excMessage: unknown;
  readonly excModule: string | null;
  readonly traceback: string | null;
  constructor(taskId: string, exc: { excType: string; excMessage: unknown; excModule: string | null }, traceback: string | null) {
    super("TASK_FAILED", taskId, `Task ${taskId} failed: ${exc.excType}: ${formatExcMessage(exc.excMessage)}`);
    this.excType = exc.excType;
    this.excMessage = exc.excMessage;
    this.excModule = exc.excModule;
    this.traceback = traceback;
  }
}

export class TaskRevokedError extends ResultError {
  readonly reason: string;
  constructor(taskId: string, reason: string) {
    super("TASK_REVOKED", taskId, `Task ${taskId} was revoked: ${reason}`);
    this.reason = reason;
  }
}

export class RetryRequest extends EbbError {
  readonly countdownMs: number | null;
  readonly exc: unknown;
  readonly maxRetries: number | undefined;
  constructor(countdownMs: number | null, exc: unknown, maxRetries?: number) {
    super("RETRY", `Retry requested${countdownMs === null ? "" : ` in ${countdownMs} ms`}`);
    this.countdownMs = countdownMs;
    this.exc = exc;
    this.maxRetries = maxRetries;
  }
}

function formatExcMessage(m: unknown): string {
  if (Array.isArray(m)) return m.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(", ");
  return typeof m === "string" ? m : JSON.stringify(m);
}

/** Describe a value for "expected X, got Y" messages: `-1 (number)`, `"abc" (string)`. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "string") return `${JSON.stringify(value)} (string)`;
  if (typeof value === "number" || typeof value === "boolean") return `${String(value)} (${typeof value})`;
  try {
    return `${JSON.stringify(value)} (${Array.isArray(value) ? "array" : typeof value})`;
  } catch {
    return `(${typeof value})`;
  }
}

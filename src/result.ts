import type { ResultBackend, StoredResult } from "./backends/result-backend.js";
import type { NodeReplies, RevokeOptions } from "./control/control-client.js";
import { ConfigError, ResultArchivedError, ResultExpiredError, TaskFailedError, TaskRevokedError, TimeoutError } from "./errors.js";
import { isExceptionInfo } from "./protocol/exception-info.js";
import { isReady, type State } from "./states.js";

/** What an AsyncResult reads through. */
export interface ResultSource {
  backend: () => Promise<ResultBackend>;
  /** How long after expiry an id still reads EXPIRED. */
  graceMs: number;
  /** get() without timeoutMs waits this long; null = forever. */
  defaultTimeoutMs: number | null;
  /** Remote control's revoke (app.control.revoke); absent where there is no broker. */
  revoke?: (id: string, options: RevokeOptions) => Promise<NodeReplies>;
}

/** One result as `ebb result --json` prints it. Instants are ISO strings (UTC) or null. */
export interface ResultInfo {
  id: string;
  state: State;
  result: unknown;
  dateDone: string | null;
  expiresAt: string | null;
  tier: string | null;
  traceback: string | null;
  held: boolean;
  /** Only for a result an archive removed (state EXPIRED): the archive file and when it was written (ISO). */
  archived?: { file: string; at: string };
}

export interface GetOptions {
  /** How long to wait for a ready state. Default: the app's resultTimeout (1m). Infinity or null = forever. */
  timeoutMs?: number | null;
  signal?: AbortSignal;
}

export class AsyncResult<R = unknown> {
  readonly id: string;
  readonly #source: ResultSource;

  constructor(id: string, source: ResultSource) {
    this.id = id;
    this.#source = source;
  }

  async state(): Promise<State> {
    return (await this.info()).state;
  }

  /** State, value and lifetime in one read. */
  async info(): Promise<ResultInfo> {
    const found = await (await this.#source.backend()).lookup(this.id, { graceMs: this.#source.graceMs });
    if (found.kind === "found") return toInfo(found.result);
    const empty = { id: this.id, result: null, dateDone: null, tier: null, traceback: null, held: false };
    if (found.kind === "expired") {
      const archived = found.archived && { archived: { file: found.archived.file, at: new Date(found.archived.at).toISOString() } };
      return { ...empty, state: "EXPIRED", expiresAt: new Date(found.expiredAt).toISOString(), ...archived };
    }
    return { ...empty, state: "PENDING", expiresAt: null };
  }

  /**
   * Wait for the result. Returns the value on SUCCESS; throws TaskFailedError on FAILURE,
   * TaskRevokedError on REVOKED, ResultExpiredError once it has expired (ResultArchivedError, naming
   * the file, when an archive removed it), TimeoutError when
   * timeoutMs passes first. It never waits forever unless asked to (timeoutMs: Infinity).
   */
  async get(options: GetOptions = {}): Promise<R> {
    const timeoutMs = options.timeoutMs === undefined ? this.#source.defaultTimeoutMs : options.timeoutMs;
    const deadline = timeoutMs === null || timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    const backend = await this.#source.backend();
    // Watch before the first look, so a result stored in between wakes us at once.
    const watch = await backend.watch(this.id);
    try {
      for (;;) {
        const found = await backend.lookup(this.id, { graceMs: this.#source.graceMs });
        if (found.kind === "expired") {
          if (found.archived)
            throw new ResultArchivedError(this.id, new Date(found.expiredAt), {
              file: found.archived.file,
              at: new Date(found.archived.at),
            });
          throw new ResultExpiredError(this.id, new Date(found.expiredAt));
        }
        if (found.kind === "found" && isReady(found.result.status)) return settle<R>(found.result);
        const left = deadline - performance.now();
        if (left <= 0) throw new TimeoutError(this.id, timeoutMs ?? 0);
        if (options.signal?.aborted) throw options.signal.reason;
        await watch.changed(Math.min(left, 5_000), options.signal);
      }
    } finally {
      watch.close();
    }
  }

  /**
   * Revoke the task on every worker, Ebb or Python (Celery's AsyncResult.revoke): a message for
   * it that has not started ends REVOKED without running; with terminate, a running one is ended
   * too (on Ebb its currentTask().signal aborts). With reply, resolves with the workers' answers.
   */
  async revoke(options: RevokeOptions = {}): Promise<NodeReplies> {
    if (!this.#source.revoke)
      throw new ConfigError(`Cannot revoke task ${this.id}: this result handle has no broker to send the revoke on`);
    return this.#source.revoke(this.id, options);
  }

  /** Remove the stored result on purpose. Afterwards the id reads PENDING (unknown), not EXPIRED. */
  async forget(): Promise<void> {
    await (await this.#source.backend()).forget(this.id);
  }
}

function settle<R>(r: StoredResult): R {
  if (r.status === "SUCCESS") return r.result as R;
  const exc = isExceptionInfo(r.result)
    ? { excType: r.result.exc_type, excMessage: r.result.exc_message, excModule: r.result.exc_module ?? null }
    : { excType: "Error", excMessage: r.result, excModule: null };
  if (r.status === "REVOKED") {
    const reason = Array.isArray(exc.excMessage) && typeof exc.excMessage[0] === "string" ? exc.excMessage[0] : "revoked";
    throw new TaskRevokedError(r.taskId, reason);
  }
  throw new TaskFailedError(r.taskId, exc, r.traceback);
}

export function toInfo(r: StoredResult): ResultInfo {
  return {
    id: r.taskId,
    state: r.status,
    result: r.result,
    dateDone: r.dateDone === null ? null : new Date(r.dateDone).toISOString(),
    expiresAt: r.expiresAt === null ? null : new Date(r.expiresAt).toISOString(),
    tier: r.tier,
    traceback: r.traceback,
    held: r.held,
  };
}

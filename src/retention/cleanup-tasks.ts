import type { ResultBackend } from "../backends/result-backend.js";
import type { RetentionStore } from "../backends/retention-store.js";
import type { CleanupRunRecord, ScheduleStore } from "../beat/schedule-store.js";
import { parseDuration, type DurationInput } from "../duration.js";
import { describe } from "../errors.js";
import type { Logger } from "../logger.js";
import { currentTask } from "../task-context.js";
import { backendCleanup, type BackendCleanupSummary } from "./backend-cleanup-task.js";
import { safely, type RetentionObserver } from "./retention-observer.js";

/** What ebb.cleanup takes, as keyword arguments (a beat entry's kwargs) or as its one argument. */
export interface CleanupTaskOptions {
  /** Only this tier; null or "none" = results without a tier. Default: every tier. */
  tier?: string | null;
  /** Also results done at least this long ago that may expire, e.g. "7d". */
  olderThan?: DurationInput;
  /** Count, change nothing. */
  dryRun?: boolean;
}

export interface CleanupTaskDeps {
  store: () => Promise<RetentionStore & ResultBackend>;
  /** Where runs are recorded; null when the store cannot hold them. */
  schedules: () => Promise<ScheduleStore | null>;
  archiveDir: string;
  tiers: () => readonly string[];
  log: Logger;
  /** Told what each run removes and when it ends (metrics); optional. */
  observer?: RetentionObserver;
}

/**
 * The built-in retention tasks. Both archive the archive-tier results in their scope first (into
 * archiveDir, verified before anything is removed), then remove what may go, then trim store
 * bookkeeping; each run is recorded in the store (start, duration, counts, archive file, errors),
 * and `ebb inspect beat` shows the last one.
 *
 *   celery.backend_cleanup   Celery's name: everything that has expired, every tier
 *   ebb.cleanup              { tier, olderThan, dryRun }: the guide's tiered cleanup (strategy 4)
 *                            is one beat entry per tier, each on its own schedule
 */
export function cleanupTaskHandlers(deps: CleanupTaskDeps) {
  return {
    "celery.backend_cleanup": async () => recorded(deps, "celery.backend_cleanup", {}),
    "ebb.cleanup": async (options: CleanupTaskOptions = {}) => recorded(deps, "ebb.cleanup", checkOptions(options, deps.tiers())),
  };
}

interface Scope {
  tier?: string | null;
  olderThanMs?: number;
  dryRun?: boolean;
}

async function recorded(deps: CleanupTaskDeps, task: string, scope: Scope): Promise<BackendCleanupSummary> {
  const store = await deps.store();
  const startedAt = await store.now();
  const started = performance.now();
  const record: CleanupRunRecord = {
    task,
    taskId: taskIdOrNull(),
    startedAt,
    durationMs: 0,
    tier: scope.tier === undefined ? null : (scope.tier ?? "none"),
    olderThanMs: scope.olderThanMs ?? null,
    dryRun: scope.dryRun === true,
    matched: 0,
    removed: 0,
    bytes: 0,
    archived: 0,
    archiveFile: null,
    trimmed: 0,
    errors: [],
  };
  try {
    const summary = await backendCleanup(store, {
      archiveDir: deps.archiveDir,
      source: store.url,
      ...scope,
      ...(deps.observer ? { observer: deps.observer } : {}),
    });
    Object.assign(record, {
      matched: summary.cleanup.matched,
      removed: summary.cleanup.deleted + summary.archive.deleted + (summary.previous?.deleted ?? 0),
      bytes: summary.cleanup.bytes,
      // The previous archive is only finished here (a run cut short); its results were counted by the run that wrote it.
      archived: summary.archive.archived,
      archiveFile: summary.archive.file ?? (summary.previous && summary.previous.deleted > 0 ? summary.previous.file : null),
      trimmed: summary.trimmed,
    });
    return summary;
  } catch (e) {
    record.errors.push((e as Error).message);
    throw e;
  } finally {
    record.durationMs = Math.round(performance.now() - started);
    const run = { durationMs: record.durationMs, ok: record.errors.length === 0, at: startedAt + record.durationMs, dryRun: record.dryRun };
    safely(() => deps.observer?.cleanupFinished?.(run));
    const schedules = await deps.schedules().catch(() => null);
    await schedules
      ?.recordRun(record)
      .catch((e: unknown) => deps.log.warn(`Could not record the ${task} run in the store: ${(e as Error).message}`));
  }
}

function checkOptions(options: unknown, tiers: readonly string[]): Scope {
  if (typeof options !== "object" || options === null || Array.isArray(options))
    throw new TypeError(`ebb.cleanup takes { tier, olderThan, dryRun }, got ${describe(options)}`);
  const { tier, olderThan, dryRun, ...rest } = options as CleanupTaskOptions & Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0)
    throw new TypeError(
      `ebb.cleanup got unexpected keyword argument(s) ${unknown.map((k) => JSON.stringify(k)).join(", ")}; it takes tier, olderThan and dryRun`,
    );
  const scope: Scope = {};
  if (tier !== undefined) {
    if (tier !== null && (typeof tier !== "string" || (tier !== "none" && !tiers.includes(tier)))) {
      throw new TypeError(
        `ebb.cleanup: unknown tier ${describe(tier)}; known tiers: ${tiers.join(", ")} (or "none" for results without a tier)`,
      );
    }
    scope.tier = tier === "none" ? null : tier;
  }
  if (olderThan !== undefined)
    scope.olderThanMs = parseDuration(olderThan, { option: "ebb.cleanup olderThan", allowNever: false, numberUnit: "s" })!;
  if (dryRun !== undefined) {
    if (typeof dryRun !== "boolean") throw new TypeError(`ebb.cleanup: dryRun must be true or false, got ${describe(dryRun)}`);
    scope.dryRun = dryRun;
  }
  return scope;
}

function taskIdOrNull(): string | null {
  try {
    return currentTask().id;
  } catch {
    return null;
  }
}

import type { ResultBackend, RetentionAction } from "../../src/backends/result-backend.js";
import type { RetentionStore } from "../../src/backends/retention-store.js";
import type { manualClock } from "../../src/clock.js";
import type { StoredState } from "../../src/states.js";

export type ManualClock = ReturnType<typeof manualClock>;

/** One result to seed: what a worker would have stored, and when. */
export interface SeedSpec {
  taskId: string;
  /** Default SUCCESS. STARTED/RETRY have no dateDone; their lifetime counts from when they were stored. */
  status?: StoredState;
  /** Default { id: taskId }. */
  result?: unknown;
  /** How long it lives after it was stored; null = never. */
  lifetimeMs: number | null;
  /** Stored this long before the clock's current time. Default 0. */
  doneAgoMs?: number;
  tier?: string | null;
  /** Default "delete". */
  action?: RetentionAction;
  held?: boolean;
  /** Marked archived after it is stored (as a verified archive would). */
  archived?: boolean;
  name?: string;
}

export type Seed = (specs: readonly SeedSpec[]) => Promise<void>;

/**
 * Seeds any store through the public contracts only: ResultBackend.store() with the store's
 * (manual) clock set back by doneAgoMs, then setHeld() and markArchived(). So the same seed
 * works on memory, SQLite, Redis and Celery's table. The clock ends where it started.
 */
export function storeSeeder(store: ResultBackend & RetentionStore, clock: ManualClock): Seed {
  return async (specs) => {
    const base = clock();
    try {
      for (const s of specs) {
        clock.set(base - (s.doneAgoMs ?? 0));
        await store.store({
          taskId: s.taskId,
          status: s.status ?? "SUCCESS",
          result: s.result === undefined ? { id: s.taskId } : s.result,
          traceback: null,
          children: [],
          lifetimeMs: s.lifetimeMs,
          tier: s.tier ?? null,
          action: s.action ?? "delete",
          name: s.name ?? "seed.task",
        });
      }
    } finally {
      clock.set(base);
    }
    for (const s of specs) if (s.held) await store.setHeld(s.taskId, true);
    const archived = specs.filter((s) => s.archived).map((s) => s.taskId);
    if (archived.length > 0) await store.markArchived(archived);
  };
}

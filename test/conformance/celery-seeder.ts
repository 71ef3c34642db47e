import type { CeleryDbBackend } from "../../src/backends/celery-db/celery-db-backend.js";
import type { ResultRecord } from "../../src/backends/retention-store.js";
import type { manualClock } from "../../src/clock.js";
import { isReady } from "../../src/states.js";
import type { Seed } from "../support/seed-results.js";

/** pickle.dumps(None, protocol=5): any valid pickle will do, Ebb never opens it. */
const PICKLE = Buffer.from([0x80, 0x05, 0x4e, 0x2e]).toString("base64");

/**
 * Seeds Celery's table as a restore would: put() of rows with pickle bytes (Celery writes the table;
 * store() refuses). Lifetimes and tiers in the specs are ignored: the table has neither.
 */
export function celerySeeder(store: CeleryDbBackend, clock: ReturnType<typeof manualClock>): Seed {
  return async (specs) => {
    for (const s of specs) {
      const status = s.status ?? "SUCCESS";
      const record: ResultRecord = {
        taskId: s.taskId,
        status,
        result: null,
        traceback: null,
        children: [],
        dateDone: isReady(status) ? clock() - (s.doneAgoMs ?? 0) : null,
        expiresAt: null,
        tier: null,
        action: "delete",
        held: false,
        name: s.name ?? "seed.task",
        bytes: 0,
        origin: "celery",
        archived: false,
        resultPickleBase64: PICKLE,
      };
      if (!(await store.put(record, { replace: false }))) throw new Error(`seed: ${s.taskId} is already in the table`);
    }
    for (const s of specs) if (s.held) await store.setHeld(s.taskId, true);
    const archived = specs.filter((s) => s.archived).map((s) => s.taskId);
    if (archived.length > 0) await store.markArchived(archived);
  };
}

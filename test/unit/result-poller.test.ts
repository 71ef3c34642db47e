/**
 * The PostgreSQL result poller (one query for every watched result) says when it cannot read
 * the store, once per outage and without the password, says when it can again, and wakes the
 * watchers of what changed meanwhile. The pool is a stand-in that fails on demand: what is under
 * test is the poller's own bookkeeping (the real store is in test/postgres/postgres-watch.test.ts).
 */
import { describe, expect, it } from "vitest";
import { ResultPoller } from "../../src/backends/postgres/result-poller.js";
import { ChangeHub } from "../../src/change-hub.js";
import type { PostgresPool } from "../../src/postgres/pg-pool.js";
import { collectingLogger } from "../app/helpers.js";

function fakePool() {
  const state = { down: false, rows: [] as { task_id: string; state: string }[] };
  const pool = {
    display: "postgresql://app:***@db.example:5432/results",
    async query() {
      if (state.down) throw new Error("connect ECONNREFUSED 10.0.0.5:5432");
      return state.rows;
    },
  } as unknown as PostgresPool;
  return { pool, state };
}

describe("ResultPoller", () => {
  it("logs an outage once and its end once, and wakes a watcher whose result changed meanwhile", async () => {
    const { pool, state } = fakePool();
    const hub = new ChangeHub();
    const { log, lines } = collectingLogger();
    const poller = new ResultPoller(pool, '"ebb"', hub, (id) => `result:${id}`, 60_000, log);
    const stopWatching = poller.add("t1");
    let woken = 0;
    const watch = () => hub.wait("result:t1", 60_000).then(() => woken++);
    try {
      await Promise.all([poller.poll(), watch()]); // first poll: always wakes (no row yet)
      expect(woken).toBe(1);
      state.down = true;
      for (let i = 0; i < 3; i++) await poller.poll();
      expect(lines).toEqual([
        {
          level: "warn",
          message: expect.stringContaining(
            "Could not read the 1 watched results in postgresql://app:***@db.example:5432/results: connect ECONNREFUSED",
          ),
        },
      ]);
      state.down = false;
      state.rows = [{ task_id: "t1", state: "SUCCESS" }];
      await Promise.all([poller.poll(), watch()]);
      expect(woken).toBe(2);
      expect(lines.map((l) => l.level)).toEqual(["warn", "info"]);
      expect(lines[1]!.message).toContain("works again");
      expect(lines.map((l) => l.message).join("\n")).not.toMatch(/app:[^*]/);
    } finally {
      stopWatching();
      poller.stop();
    }
  });
});

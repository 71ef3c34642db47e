/**
 * When the PostgreSQL broker looks at its queue table (queue-vacuum.ts): after so many leased
 * messages or so long, never while idle, one look at a time; it vacuums only where autovacuum is
 * off and dead rows pass the threshold; a failure is logged once and consuming goes on. The pool
 * is a stand-in that records statements: the real table is in test/postgres/postgres-broker.test.ts.
 */
import { describe, expect, it } from "vitest";
import { QueueVacuum } from "../../src/brokers/postgres/queue-vacuum.js";
import type { PostgresPool } from "../../src/postgres/pg-pool.js";
import { collectingLogger } from "../app/helpers.js";

function fakePool(stats: { autovacuum: boolean; dead: number; live: number }) {
  const state = { down: false, statements: [] as string[], stats };
  const pool = {
    display: "postgresql://app:***@db:5432/q",
    async query(text: string) {
      if (state.down) throw new Error("connect ECONNREFUSED 10.0.0.5:5432");
      state.statements.push(text.trim().split(/\s+/)[0]!);
      return text.startsWith("VACUUM") ? [] : [state.stats];
    },
  } as unknown as PostgresPool;
  return { pool, state };
}

describe("QueueVacuum", () => {
  it("looks after everyMessages leased or everyMs, never while idle, and vacuums only when due", async () => {
    let now = 0;
    const { pool, state } = fakePool({ autovacuum: false, dead: 5_000, live: 10_000 });
    const v = new QueueVacuum(pool, { table: '"s".ebb_messages', everyMessages: 100, everyMs: 1_000, now: () => now });
    v.leasedSome(99);
    await v.settled();
    expect(state.statements).toEqual([]);
    v.leasedSome(1); // 100 leased
    await v.settled();
    expect(state.statements).toEqual(["SELECT", "VACUUM"]); // 5,000 dead ≥ max(1,000, 10,000 / 5)
    now += 5_000;
    v.leasedSome(0); // idle: time alone does not look
    await v.settled();
    expect(state.statements).toHaveLength(2);
    v.leasedSome(1); // some work, and the interval has passed
    await v.settled();
    expect(state.statements).toHaveLength(4);

    state.stats = { autovacuum: false, dead: 1_500, live: 10_000 }; // under a fifth of the live rows
    expect(await v.look()).toEqual({ autovacuum: false, dead: 1_500, live: 10_000, vacuumed: false });
    state.stats = { autovacuum: true, dead: 50_000, live: 0 }; // autovacuum's job
    expect(await v.look()).toMatchObject({ vacuumed: false });
    expect(state.statements.filter((s) => s === "VACUUM")).toHaveLength(2);
  });

  it("a store that cannot be reached is logged once, without the password, until a look works", async () => {
    const { pool, state } = fakePool({ autovacuum: false, dead: 0, live: 0 });
    const { log, lines } = collectingLogger();
    const v = new QueueVacuum(pool, { table: '"s".ebb_messages', log });
    state.down = true;
    expect(await v.look()).toBeNull();
    expect(await v.look()).toBeNull();
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message).toMatch(
      /Could not vacuum the queue table "s".ebb_messages in postgresql:\/\/app:\*\*\*@db:5432\/q: connect ECONNREFUSED/,
    );
    state.down = false;
    expect(await v.look()).toMatchObject({ vacuumed: false });
    state.down = true;
    await v.look();
    expect(lines).toHaveLength(2); // a new outage is said again
  });
});

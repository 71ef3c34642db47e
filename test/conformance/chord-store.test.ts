/**
 * The chord capability (src/backends/chord-store.ts) on every Ebb store: memory, SQLite, Redis, PostgreSQL.
 * The Redis case also checks Celery's own keys and bytes, since Python workers count on them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ChordPart, ChordStore } from "../../src/backends/chord-store.js";
import { MemoryBackend } from "../../src/backends/memory/memory-backend.js";
import { PostgresBackend } from "../../src/backends/postgres/postgres-backend.js";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { manualClock } from "../../src/clock.js";
import { postgresSchema } from "../support/postgres-schema.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";

type Open = () => Promise<{ chords: ChordStore; clock: ReturnType<typeof manualClock>; cleanup: () => Promise<void> }>;

const part = (taskId: string, groupIndex: number | null, result: unknown = taskId, state: ChordPart["state"] = "SUCCESS"): ChordPart => ({
  taskId,
  state,
  result,
  groupIndex,
});
const opts = { expiresMs: 60_000 };

function chordConformance(name: string, open: Open): void {
  describe(`chord store: ${name}`, () => {
    it("returns every part, in group_index order, only to the part that completes the header", async () => {
      const { chords, cleanup } = await open();
      try {
        await chords.setChordSize("g1", 3, opts);
        expect(await chords.chordPartReturned("g1", part("c", 2, 30), opts)).toBeNull();
        expect(await chords.chordPartReturned("g1", part("a", 0, { x: [1] }), opts)).toBeNull();
        const all = await chords.chordPartReturned("g1", part("b", 1, "é"), opts);
        expect(all?.map((p) => [p.taskId, p.result])).toEqual([
          ["a", { x: [1] }],
          ["b", "é"],
          ["c", 30],
        ]);
      } finally {
        await cleanup();
      }
    });

    it("counts a redelivered part once, keeps failures, and forgets a completed chord", async () => {
      const { chords, cleanup } = await open();
      try {
        await chords.setChordSize("g2", 2, opts);
        const boom = { exc_type: "ValueError", exc_message: ["boom"], exc_module: "builtins" };
        expect(await chords.chordPartReturned("g2", part("a", 0, boom, "FAILURE"), opts)).toBeNull();
        expect(await chords.chordPartReturned("g2", part("a", 0, boom, "FAILURE"), opts)).toBeNull();
        const all = await chords.chordPartReturned("g2", part("b", 1, 2), opts);
        expect(all?.map((p) => p.state)).toEqual(["FAILURE", "SUCCESS"]);
        expect(all?.[0]?.result).toEqual(boom);
        await chords.chordCompleted("g2");
        // Completed and forgotten: a late redelivery of a part completes nothing again.
        expect(await chords.chordPartReturned("g2", part("b", 1, 2), opts)).toBeNull();
      } finally {
        await cleanup();
      }
    });

    it("waits for the size: parts that finish before the client set it are counted", async () => {
      const { chords, cleanup } = await open();
      try {
        expect(await chords.chordPartReturned("g3", part("a", 0), opts)).toBeNull();
        await chords.setChordSize("g3", 2, opts);
        expect((await chords.chordPartReturned("g3", part("b", 1), opts))?.map((p) => p.taskId)).toEqual(["a", "b"]);
      } finally {
        await cleanup();
      }
    });
  });
}

chordConformance("memory", async () => {
  const clock = manualClock();
  return { chords: new MemoryBackend({ clock }).chords, clock, cleanup: async () => undefined };
});

chordConformance("sqlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ebb-chords-"));
  const clock = manualClock();
  const backend = new SqliteBackend({ url: `sqlite://${join(dir, "ebb.db")}`, clock });
  return {
    chords: backend.chords,
    clock,
    async cleanup() {
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe("chord store: memory and sqlite drop abandoned counts after expiresMs", () => {
  it("sqlite", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-chords-"));
    const clock = manualClock();
    const backend = new SqliteBackend({ url: `sqlite://${join(dir, "ebb.db")}`, clock });
    try {
      await backend.chords.setChordSize("old", 2, { expiresMs: 1_000 });
      await backend.chords.chordPartReturned("old", part("a", 0), { expiresMs: 1_000 });
      clock.advance(1_001);
      await backend.chords.setChordSize("new", 1, opts);
      // "old" was dropped: its size is gone, so its last part completes nothing.
      expect(await backend.chords.chordPartReturned("old", part("b", 1), opts)).toBeNull();
    } finally {
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

await describeWithService("redis", "chord store: redis", () => {
  chordConformance("redis", async () => {
    const ns = await redisNamespace();
    const clock = manualClock();
    const backend = await new RedisBackend({ url: ns.url, clock }).connect();
    return {
      chords: backend.chords,
      clock,
      async cleanup() {
        await backend.close();
        await ns.cleanup();
      },
    };
  });

  it("uses Celery's keys and bytes: .s the size, .j a zset of [1, id, state, result] by group_index, with the expiry", async () => {
    const ns = await redisNamespace();
    const backend = await new RedisBackend({ url: ns.url, clock: manualClock() }).connect();
    try {
      const key = (s: string) => `${ns.prefix}celery-taskset-meta-g9${s}`;
      await backend.chords.setChordSize("g9", 2, { expiresMs: 86_400_000 });
      expect(await ns.redis.get(key(".s"))).toBe("2");
      await backend.chords.chordPartReturned("g9", part("t1", 1, { a: 1 }), { expiresMs: 86_400_000 });
      expect(await ns.redis.zrange(key(".j"), 0, -1, "WITHSCORES")).toEqual(['[1, "t1", "SUCCESS", {"a": 1}]', "1"]);
      const ttl = await ns.redis.pttl(key(".j"));
      expect(ttl).toBeGreaterThan(86_000_000);
      expect(await ns.redis.pttl(key(".s"))).toBeGreaterThan(86_000_000);
      // A part written by Python Celery (no group_index: scored +inf) is read back like Ebb's own.
      await ns.redis.zadd(key(".j"), "+inf", '[1, "py", "SUCCESS", 5]');
      await ns.redis.set(key(".s"), "3");
      const all = await backend.chords.chordPartReturned("g9", part("t0", 0, 0), { expiresMs: 86_400_000 });
      expect(all?.map((p) => [p.taskId, p.result])).toEqual([
        ["t0", 0],
        ["t1", { a: 1 }],
        ["py", 5],
      ]);
      await backend.chords.chordCompleted("g9");
      expect(await ns.redis.exists(key(".j"), key(".s"), key(".t"))).toBe(0);
    } finally {
      await backend.close();
      await ns.cleanup();
    }
  });
});

await describeWithService("postgres", "chord store: postgresql", () => {
  chordConformance("postgresql", async () => {
    const ns = await postgresSchema();
    const clock = manualClock();
    const backend = await new PostgresBackend({ url: ns.url, clock }).connect();
    return {
      chords: backend.chords,
      clock,
      async cleanup() {
        await backend.close();
        await ns.cleanup();
      },
    };
  });
});

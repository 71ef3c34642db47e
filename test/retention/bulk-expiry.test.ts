import { describe, expect, it } from "vitest";
import { MemoryBackend } from "../../src/backends/memory/memory-backend.js";
import type { DropOutcome, ResultRecord, RetentionCapabilities } from "../../src/backends/retention-store.js";
import { manualClock } from "../../src/clock.js";
import { cleanup } from "../../src/retention/cleanup.js";
import { isReady } from "../../src/states.js";
import { storeSeeder, type SeedSpec } from "../support/seed-results.js";

const H = 3_600_000;
const D = 24 * H;

/**
 * A memory store that expires in bulk, as a partitioned store (PostgreSQL dropping a partition)
 * will: dropExpired(before) removes, in one call, what expired before `before` and cleanup would
 * remove anyway. It records its calls.
 */
class BulkMemory extends MemoryBackend {
  override readonly retentionCapabilities: RetentionCapabilities;
  readonly drops: number[] = [];
  constructor(bulkExpiry: boolean, clock: ReturnType<typeof manualClock>) {
    super({ clock });
    this.retentionCapabilities = { tiers: true, tombstones: true, perResultExpiry: true, bulkExpiry, ebbResults: true };
  }
  async dropExpired(before: number): Promise<DropOutcome> {
    this.drops.push(before);
    const doomed: ResultRecord[] = [];
    for await (const batch of this.scan({ batchSize: 100, expiresBy: before }))
      doomed.push(...batch.filter((r) => r.action === "delete" && isReady(r.status) && r.expiresAt! < before));
    const out = await this.remove(doomed, { remember: true });
    const byTier: NonNullable<DropOutcome["byTier"]> = {};
    for (const r of doomed.filter((d) => out.removed.includes(d.taskId))) {
      const t = byTier[r.tier ?? "none"] ?? { removed: 0, bytes: 0 };
      byTier[r.tier ?? "none"] = t;
      t.removed += 1;
      t.bytes += r.bytes;
    }
    return { removed: out.removed.length, bytes: out.bytes, byTier };
  }
}

const MIX: SeedSpec[] = [
  { taskId: "std-expired", lifetimeMs: H, doneAgoMs: 2 * H, tier: "standard" },
  { taskId: "plain-expired", lifetimeMs: H, doneAgoMs: 3 * H },
  { taskId: "fresh", lifetimeMs: D, doneAgoMs: H },
  { taskId: "held-expired", lifetimeMs: H, doneAgoMs: 2 * H, held: true },
  { taskId: "audit-archived", lifetimeMs: H, doneAgoMs: 2 * H, tier: "audit", action: "archive", archived: true },
  { taskId: "audit-pending", lifetimeMs: H, doneAgoMs: 2 * H, tier: "audit", action: "archive" },
];

async function seeded(bulkExpiry: boolean) {
  const clock = manualClock(Date.UTC(2026, 5, 1));
  const store = new BulkMemory(bulkExpiry, clock);
  await storeSeeder(store, clock)(MIX);
  return { store, clock };
}

describe("cleanup on a store that declares bulkExpiry", () => {
  it("drops what has expired with one dropExpired(now), and the scan still handles the rest", async () => {
    const { store, clock } = await seeded(true);
    const report = await cleanup(store, {});
    expect(store.drops).toEqual([clock()]);
    // The same report as a store without bulk expiry gives: the bulk drop took the two expired
    // delete-tier results, the scan the archived audit result; held and pending ones stay.
    const plain = await seeded(false);
    expect(report).toEqual(await cleanup(plain.store, {}));
    expect(report).toMatchObject({
      matched: 3,
      deleted: 3,
      byTier: { standard: { deleted: 1 }, none: { deleted: 1 }, audit: { deleted: 1 } },
    });
    expect(plain.store.drops).toEqual([]);
    const left: string[] = [];
    for await (const batch of store.scan({ batchSize: 10, includeHeld: true })) left.push(...batch.map((r) => r.taskId));
    expect(left.sort()).toEqual(["audit-pending", "fresh", "held-expired"]);
    // The dropped ids still read EXPIRED (the store's tombstones).
    expect((await store.lookup("std-expired", { graceMs: D })).kind).toBe("expired");
  });

  it("is not asked on a dry run, nor for one tier (a partition holds every tier)", async () => {
    const { store } = await seeded(true);
    expect(await cleanup(store, { dryRun: true })).toMatchObject({ matched: 3, deleted: 0 });
    expect(await cleanup(store, { tier: "standard" })).toMatchObject({ matched: 1, deleted: 1 });
    expect(store.drops).toEqual([]);
  });

  it("a store that declares bulkExpiry without dropExpired is a contract error that says what to do", async () => {
    const clock = manualClock();
    const store = new MemoryBackend({ clock });
    Object.defineProperty(store, "retentionCapabilities", { value: { ...store.retentionCapabilities, bulkExpiry: true } });
    await expect(cleanup(store, {})).rejects.toThrow(
      /declares bulkExpiry but has no dropExpired\(before\); implement it or declare bulkExpiry: false/,
    );
  });
});

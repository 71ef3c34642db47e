/**
 * What SQLite keeps, per id, to remember that a result expired (its tombstone, for the grace
 * window): N results (random UUIDs) stored with a 1 s lifetime, the clock moved past it, then
 * cleaned up the way `ebb cleanup` does (scan by expiry, remove with tombstones, 1,000 a batch).
 * Bytes per id = the pages (dbstat, page size included: a page's free space counts) of every
 * tombstone table and index after cleanup, less before, ÷ N. Also: cleanup's rate, and a
 * lookup's time for an expired id and for an id never seen (a PENDING poll).
 *
 *   node dist/bench/sqlite-tombstones.js [N]        (default 200000)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteBackend } from "../src/backends/sqlite/sqlite-backend.js";
import { manualClock } from "../src/clock.js";
import { openDatabase } from "../src/sqlite/open-database.js";

const n = Number(process.argv[2] ?? 200_000);
const GRACE = 7 * 86_400_000;
const dir = mkdtempSync(join(tmpdir(), "ebb-bench-tombstones-"));
try {
  const path = join(dir, "ebb.db");
  const clock = manualClock();
  const backend = new SqliteBackend({ url: `sqlite://${path}`, clock, graceMs: GRACE });
  const handle = openDatabase(path);
  const tombstoneBytes = () =>
    handle.db.prepare("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE '%tombstone%'").pluck().get() as number;
  const ids = Array.from({ length: n }, () => crypto.randomUUID());
  for (let i = 0; i < n; i += 1_000)
    await Promise.all(
      ids.slice(i, i + 1_000).map((taskId) =>
        backend.store({
          taskId,
          status: "SUCCESS",
          result: 1,
          traceback: null,
          children: [],
          lifetimeMs: 1_000,
          tier: null,
          action: "delete",
        }),
      ),
    );
  clock.advance(5_000);
  const before = tombstoneBytes();
  let t = performance.now();
  let removed = 0;
  for await (const batch of backend.scan({ batchSize: 1_000, expiresBy: clock(), includeHeld: false }))
    removed += (await backend.remove(batch, { remember: true })).removed.length;
  const cleanupSeconds = (performance.now() - t) / 1000;
  handle.db.pragma("wal_checkpoint(TRUNCATE)");
  const bytes = tombstoneBytes() - before;
  const lookups = 20_000;
  t = performance.now();
  for (let i = 0; i < lookups; i++) await backend.lookup(ids[(i * 7_919) % n]!, { graceMs: GRACE });
  const expiredUs = ((performance.now() - t) * 1000) / lookups;
  t = performance.now();
  for (let i = 0; i < lookups; i++) await backend.lookup(crypto.randomUUID(), { graceMs: GRACE });
  const unknownUs = ((performance.now() - t) * 1000) / lookups;
  console.log(
    JSON.stringify({
      n,
      removed,
      bytesPerExpiredId: Number((bytes / removed).toFixed(1)),
      cleanupPerSecond: Math.round(removed / cleanupSeconds),
      lookupExpiredUs: Number(expiredUs.toFixed(1)),
      lookupUnknownUs: Number(unknownUs.toFixed(1)),
    }),
  );
  handle.close();
  await backend.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

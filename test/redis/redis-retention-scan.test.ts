import { once } from "node:events";
import { connect } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import { waitFor } from "../support/wait.js";
import { RedisServer } from "../support/redis-server.js";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import type { ResultRecord, ScanQuery } from "../../src/backends/retention-store.js";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { manualClock } from "../../src/clock.js";
import { listReference, readReference } from "../fixtures/celery-reference.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";

// Store-only: how Redis finds results for retention. Ebb's own come from its two indexes; the
// celery-task-meta-* keys Python Celery wrote have no index entry and are found by SCAN. Every
// result must come out exactly once whichever way it is found, and never through KEYS.
const HOUR = 3_600_000;

function request(taskId: string, over: Partial<StoreRequest> = {}): StoreRequest {
  return { taskId, status: "SUCCESS", result: 1, traceback: null, children: [], lifetimeMs: HOUR, tier: null, action: "delete", ...over };
}

/** The raw values a real Celery 5.2.6 wrote (reference/celery/result_values), by task id. */
function celeryValues(): Map<string, string> {
  const values = new Map<string, string>();
  for (const file of listReference("result_values", ".json")) {
    const raw = readReference(`result_values/${file}`).trim();
    values.set((JSON.parse(raw) as { task_id: string }).task_id, raw);
  }
  return values;
}

await describeWithService("redis", "redis retention store: scan", () => {
  // A private redis-server: MONITOR sees only this test's commands (see test/support/redis-server.ts).
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(() => server.destroy());
  let ns: Awaited<ReturnType<typeof redisNamespace>>;
  let clock: ReturnType<typeof manualClock>;
  let backend: RedisBackend;

  async function all(query: Partial<ScanQuery> = {}): Promise<ResultRecord[]> {
    const out: ResultRecord[] = [];
    for await (const batch of backend.scan({ batchSize: 100, ...query })) {
      expect(batch.length).toBeGreaterThan(0);
      out.push(...batch);
    }
    return out;
  }
  const ids = (records: ResultRecord[]) => records.map((r) => r.taskId).sort();

  beforeEach(async () => {
    ns = await redisNamespace(server.port);
    clock = manualClock(Date.UTC(2026, 10, 24, 3));
    backend = await new RedisBackend({ url: ns.url, clock, trimIntervalMs: 3_600_000 }).connect();
  });
  afterEach(async () => {
    await backend.close();
    await ns.cleanup();
  });

  it("finds the values Python Celery wrote, with and without a TTL, once each, as origin celery", async () => {
    const values = celeryValues();
    let i = 0;
    for (const [id, raw] of values) {
      if (i++ % 2 === 0) await ns.redis.set(`${ns.prefix}celery-task-meta-${id}`, raw, "EX", 86_400);
      else await ns.redis.set(`${ns.prefix}celery-task-meta-${id}`, raw);
    }
    await backend.store(request("ebb-1"));
    await backend.store(request("ebb-2", { lifetimeMs: null }));

    const found = await all({ includeHeld: true });
    expect(ids(found)).toEqual([...values.keys(), "ebb-1", "ebb-2"].sort());
    for (const r of found.filter((r) => values.has(r.taskId))) {
      expect(r).toMatchObject({ origin: "celery", tier: null, action: "delete", held: false, archived: false });
      expect(r.bytes).toBe(await ns.redis.strlen(`${ns.prefix}celery-task-meta-${r.taskId}`));
      const pttl = await ns.redis.pttl(`${ns.prefix}celery-task-meta-${r.taskId}`);
      if (pttl === -1) expect(r.expiresAt).toBeNull();
      else expect(r.expiresAt! - clock()).toBeGreaterThan(pttl - 1_000);
    }
    expect(found.find((r) => r.taskId === "41f3d619-9bb2-4ba0-8544-0ec8907ad0f5")).toMatchObject({
      status: "SUCCESS",
      result: 5,
      dateDone: Date.UTC(2026, 10, 24, 2, 4, 40) + 124.625,
    });
    expect(found.find((r) => r.taskId === "f1d2152e-cea0-4cf6-90c0-adc82281918a")).toMatchObject({ status: "STARTED", dateDone: null });
    expect(
      found
        .filter((r) => r.origin === "ebb")
        .map((r) => r.taskId)
        .sort(),
    ).toEqual(["ebb-1", "ebb-2"]);
  });

  it("reports a Celery key that Ebb holds once, from the index, still as origin celery", async () => {
    const [id, raw] = [...celeryValues()][0]!;
    await ns.redis.set(`${ns.prefix}celery-task-meta-${id}`, raw, "EX", 600);
    expect(await backend.setHeld(id, true)).toBe(true);
    const found = await all({ includeHeld: true });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ taskId: id, origin: "celery", held: true });
    expect(await all()).toEqual([]);
    expect(await backend.read(id)).toMatchObject({ taskId: id, origin: "celery", held: true });
  });

  it("filters by expiresBy, doneBy, tier and holds, and skips tombstones and unreadable values", async () => {
    await backend.store(request("soon", { lifetimeMs: 1_000 }));
    await backend.store(request("later", { lifetimeMs: HOUR }));
    await backend.store(request("audit", { lifetimeMs: 1_000, tier: "audit", action: "archive" }));
    await backend.store(request("never", { lifetimeMs: null }));
    await backend.store(request("held", { lifetimeMs: 1_000 }));
    await backend.setHeld("held", true);
    await backend.store(request("running", { status: "STARTED", lifetimeMs: 1_000 }));
    await ns.redis.set(`${ns.prefix}celery-task-meta-pickled`, "\x80\x04\x95not json", "EX", 600);
    await ns.redis.zadd(`${ns.prefix}ebb:results:ttl`, clock() - 10, "tombstone");
    clock.advance(2_000);

    expect(ids(await all({ expiresBy: clock() }))).toEqual(["audit", "running", "soon"]);
    expect(ids(await all({ expiresBy: clock(), includeHeld: true }))).toEqual(["audit", "held", "running", "soon"]);
    expect(ids(await all({ doneBy: clock() }))).toEqual(["audit", "later", "never", "soon"]); // STARTED has no date_done
    expect(ids(await all({ tier: "audit" }))).toEqual(["audit"]);
    expect(ids(await all({ tier: null }))).toEqual(["later", "never", "running", "soon"]);
    expect((await backend.storeFacts()).unreadableValues).toBeGreaterThan(0);
  });

  it("pages ties and keeps its place while what it returned is removed", async () => {
    // Same store clock for all: 1,050 entries with one score in each index.
    await Promise.all(
      Array.from({ length: 1_050 }, (_, i) =>
        backend.store(request(`t-${String(i).padStart(4, "0")}`, { lifetimeMs: i % 3 === 0 ? null : HOUR })),
      ),
    );
    const seen = new Set<string>();
    for await (const batch of backend.scan({ batchSize: 64, includeHeld: true })) {
      for (const r of batch) {
        expect(seen.has(r.taskId)).toBe(false);
        seen.add(r.taskId);
      }
      // Removing what was just returned (as cleanup does) must not make the scan skip the rest.
      // The odd ones, so the last entry of each page is gone when the next page starts.
      const outcome = await backend.remove(
        batch.filter((_, i) => i % 2 === 1),
        { remember: false },
      );
      expect(outcome.kept).toEqual([]);
    }
    expect(seen.size).toBe(1_050);
  });

  it("with Redis's own clock, starts past the tombstones of the grace window without reading them", async () => {
    // MONITOR on a plain socket, read line by line: ioredis's monitor() can take a feed line that
    // arrives in the same read as MONITOR's own OK for a reply and throw "Command queue state
    // error" from its socket handler (seen once, when a backend's background script ran then).
    const feed = await monitorFeed(server.port);
    const live = await new RedisBackend({ url: ns.url, trimIntervalMs: 3_600_000 }).connect();
    try {
      await live.store(request("alive", { lifetimeMs: HOUR }));
      await live.store(request("kept", { lifetimeMs: null }));
      const now = await live.now();
      // What cleanup with remember leaves behind: index entries whose values Redis has expired.
      await ns.redis.zadd(`${ns.prefix}ebb:results:ttl`, ...Array.from({ length: 500 }, (_, i) => [now - HOUR + i, `gone-${i}`]).flat());
      feed.lines.length = 0; // only what the scan does is looked at
      const found: string[] = [];
      for await (const batch of live.scan({ batchSize: 100, includeHeld: true })) found.push(...batch.map((r) => r.taskId));
      const marker = `${ns.prefix}monitor-done`;
      await ns.redis.echo(marker);
      await waitFor("the marker in the MONITOR feed", () => feed.lines.some((l) => l.includes(marker)));
      expect(found.sort()).toEqual(["alive", "kept"]);
      // Values are read by MGET or inside a script (GET); no command names a gone id's value key.
      const valueKey = `"${ns.prefix}celery-task-meta-`;
      expect(feed.lines.some((l) => l.includes(`${valueKey}alive"`))).toBe(true); // what it returned was read
      expect(feed.lines.filter((l) => l.includes(`${valueKey}gone-`))).toEqual([]);
    } finally {
      feed.close();
      await live.close();
    }
  });
});

/** The MONITOR feed of a Redis server, as its lines, from a socket of its own; started when this resolves. */
async function monitorFeed(port: number): Promise<{ lines: string[]; close(): void }> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  const lines: string[] = [];
  let rest = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\r\n");
    rest = parts.pop() ?? "";
    lines.push(...parts);
  });
  socket.write("MONITOR\r\n");
  await waitFor("MONITOR to start", () => lines.includes("+OK"));
  return { lines, close: () => socket.destroy() };
}

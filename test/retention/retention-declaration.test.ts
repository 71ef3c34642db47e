import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MemoryBackend } from "../../src/backends/memory/memory-backend.js";
import { retentionStoreOf } from "../../src/backends/retention-store.js";
import { StoreUnavailableError } from "../../src/errors.js";
import { retentionApi } from "../../src/retention/retention-api.js";
import { ebb, scratchDir } from "../e2e/cli-harness.js";

// A store is a retention store because it says so (ResultBackend.retention), not because it has
// methods called scan and remove: one check, in retentionStoreOf(), for the API, the CLI and restore.

/** Has every method a duck-typing check looked for, and declares no retention operations. */
const lookalike = () => ({
  url: "fake://lookalike",
  retention: null,
  scan() {},
  remove() {},
  read() {},
  now: async () => 0,
  storeFacts: async () => ({ kind: "fake" }),
});

const app = { tasks: new Map(), config: { tiers: {}, resultExpiresMs: null, expiredGraceMs: 0 } };

describe("retention operations go to stores that declare them", () => {
  const dir = scratchDir();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a memory store declares itself", () => {
    const m = new MemoryBackend();
    expect(m.retention).toBe(m);
    expect(retentionStoreOf(m, "stats")).toBe(m);
  });

  it("app.retention refuses a store that does not declare them, however it looks", async () => {
    const api = retentionApi(async () => lookalike() as never, app);
    const error = await api.stats().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/fake:\/\/lookalike does not support retention operations \(cleanup, archive, stats, hold\)/);
  });

  it("ebb stats on such a store exits 69 with one line naming it", async () => {
    const path = join(dir, "lookalike.mjs");
    writeFileSync(
      path,
      `export const app = { task() {}, worker() {}, tasks: new Map(), config: { expiredGraceMs: 0 }, async backend() { return (${lookalike.toString()})(); }, async close() {} };\n`,
    );
    const r = await ebb(["stats", "-A", path]);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/fake:\/\/lookalike does not support retention operations/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});

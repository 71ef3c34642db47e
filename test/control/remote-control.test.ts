import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import { createApp } from "../../src/app.js";
import type { AppConfig } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { memUrl, newApp } from "../app/helpers.js";
import { controlConformance } from "../conformance/control-conformance.js";
import { redisNamespaceNow } from "../support/redis-namespace.js";

controlConformance("memory", {
  app: (config) => newApp(config),
  heldEta: () => newApp({ broker: `${memUrl()}?delayed=false` }),
  events: true,
  kept: false,
});

/** An app on a SQLite file of its own (broker and backend), removed when the test ends. */
function sqliteApp(config: AppConfig = {}) {
  const dir = mkdtempSync(join(tmpdir(), "ebb-control-"));
  const url = `sqlite://${join(dir, "ebb.db")}`;
  const app = createApp({ broker: url, backend: url, ...config }, { log: silentLogger });
  onTestFinished(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return app;
}

controlConformance("sqlite", { app: sqliteApp, heldEta: null, events: false, kept: true });

/** An app under a Redis key prefix of its own (so its pidbox channel is its own too), its keys removed when the test ends. */
function redisApp(config: AppConfig = {}) {
  const ns = redisNamespaceNow();
  const app = createApp({ broker: ns.url, backend: ns.url, ...config }, { log: silentLogger });
  onTestFinished(async () => {
    await app.close();
    await ns.cleanup();
  });
  return app;
}

controlConformance("redis", { app: redisApp, heldEta: () => redisApp(), events: true, kept: false });

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { ConfigError } from "../../src/errors.js";
import { silentLogger } from "../../src/logger.js";
import { ebb } from "../e2e/cli-harness.js";

describe("remote control on a broker that cannot carry it (SQLite)", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const dbUrl = () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-control-"));
    dirs.push(dir);
    return `sqlite://${join(dir, "ebb.db")}`;
  };

  it("app.control and AsyncResult.revoke() say so instead of silently doing nothing", async () => {
    const url = dbUrl();
    const app = createApp({ broker: url, backend: url }, { log: silentLogger });
    try {
      await expect(app.control.ping()).rejects.toThrow(ConfigError);
      await expect(app.asyncResult("some-id").revoke()).rejects.toThrow(/does not carry remote control, so nothing was sent/);
    } finally {
      await app.close();
    }
  });

  it("ebb revoke and ebb inspect exit 64 with one line naming the limit", async () => {
    const url = dbUrl();
    for (const args of [
      ["revoke", "some-id"],
      ["inspect", "ping"],
    ]) {
      const r = await ebb([...args, "--broker", url, "--backend", url]);
      expect(r.code).toBe(64);
      expect(r.stderr).toMatch(
        /^ebb: The broker sqlite:.* does not carry remote control, so nothing was sent: revoke, inspect and ping need a redis:\/\/ broker/,
      );
    }
  });
});

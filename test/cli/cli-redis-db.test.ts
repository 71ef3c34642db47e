import { afterAll, beforeAll, expect, it } from "vitest";
import { ebb } from "../e2e/cli-harness.js";
import { redisNamespace, scanAll, type RedisNamespace } from "../support/redis-namespace.js";
import { describeWithService, SERVICES } from "../support/services.js";

/**
 * A Redis URL naming a database the server does not have (16 by default: 0..15) used to fall
 * back to database 0 silently: ioredis's SELECT on connect failed into an error listener. The
 * real binary now refuses it with exit 64, naming the URL (password masked) and the number.
 */
let ns: RedisNamespace;

beforeAll(async () => {
  ns = await redisNamespace();
});

afterAll(async () => {
  await ns?.cleanup();
});

await describeWithService("redis", "ebb with a Redis database the server does not have", () => {
  const { host, port } = SERVICES.redis;

  it("ebb call --broker redis://…/99 exits 64 and writes nothing to database 0", async () => {
    const url = `redis://:s3cret@${host}:${port}/99?prefix=${ns.prefix}`;
    const r = await ebb(["call", "some.task", "--broker", url]);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr).not.toContain("s3cret");
    const line = r.stderr.split("\n").find((l) => l.startsWith("ebb: "));
    expect(line).toContain(`redis://:***@${host}:${port}/99`);
    expect(line).toContain("no database 99");
    expect(line).toContain("DB index is out of range");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await scanAll(ns.redis, `${ns.prefix}*`)).toEqual([]);
  });

  it("ebb result --backend redis://…/16 exits 64 with one line", async () => {
    const r = await ebb(["result", "some-id", "--backend", `redis://${host}:${port}/16?prefix=${ns.prefix}`]);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`redis://${host}:${port}/16`);
    expect(r.stderr).toContain("no database 16");
  });
});

import { afterAll, beforeAll, expect, it } from "vitest";
import { recordOf } from "../../src/backends/redis/retention-scan.js";
import { ttlExpiry } from "../../src/backends/redis/stored-result.js";
import { RedisServer } from "../support/redis-server.js";
import { describeWithService } from "../support/services.js";

// Store-only: `ebb stats` counted Python Celery's expiring keys as permanent. A key whose TTL runs
// out while a script reads it still shows its value to that script, and Redis 7.0 answers PTTL 0
// for it; a pipelined read may meet PTTL -2 beside the value it just read. Only -1 means "no TTL".

const CELERY_VALUE = (id: string) =>
  `{"status": "SUCCESS", "result": 5, "traceback": null, "children": [], "date_done": "2026-11-24T02:04:40.124625", "task_id": "${id}"}`;

/**
 * Sets KEYS[1] to ARGV[2] for 5 ms, spins ARGV[1] microseconds, then GET and PTTL: the key's TTL
 * runs out in between, inside one script whatever the machine's load (no round trip between).
 */
const READ_AFTER_SPIN = `
local t0 = redis.call('TIME')
redis.call('SET', KEYS[1], ARGV[2], 'PX', 5)
repeat
  local t = redis.call('TIME')
until (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > tonumber(ARGV[1])
return { redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]) }`;

const NOW = Date.UTC(2026, 10, 24, 3);

it.each([
  [-1, null],
  [0, NOW],
  [-2, NOW],
  [1_500, NOW + 1_500],
])("PTTL %i beside a value gives expiresAt %s (only -1 is permanent)", (pttl, expiresAt) => {
  expect(ttlExpiry(pttl, NOW)).toBe(expiresAt);
  const record = recordOf({ value: CELERY_VALUE("t"), pttl, ttlScore: null, noTtlScore: null, info: null }, "celery-task-meta-t", NOW);
  expect(record.expiresAt).toBe(expiresAt);
});

await describeWithService("redis", "redis: a key that expires while a script reads it", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start({ persist: false });
  });
  afterAll(() => server.destroy());

  it("is read as expired, not permanent, from the reply this Redis really gives", async () => {
    const client = server.client();
    try {
      const version = /redis_version:(\d+)\.(\d+)/.exec(await client.info("server"));
      // A key set to live 5 ms, read by the same script 30 ms later.
      const [value, pttl] = (await client.eval(READ_AFTER_SPIN, 1, "celery-task-meta-x", 30_000, CELERY_VALUE("x"))) as [
        string | null,
        number,
      ];
      if (version && Number(version[1]) === 7 && Number(version[2]) === 0) {
        // Redis 7.0: the script still sees the value (its time is frozen), but PTTL counts with the real clock, clamped at 0.
        expect([value, pttl]).toEqual([CELERY_VALUE("x"), 0]);
      }
      if (value !== null) {
        const record = recordOf({ value, pttl, ttlScore: null, noTtlScore: null, info: null }, "celery-task-meta-x", NOW);
        expect(record.expiresAt).not.toBeNull();
        expect(record.expiresAt).toBeLessThanOrEqual(NOW);
      }
    } finally {
      client.disconnect();
    }
  });
});

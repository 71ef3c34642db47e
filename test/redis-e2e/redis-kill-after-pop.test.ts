import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { expect, it } from "vitest";
import { RedisBroker } from "../../src/brokers/redis/redis-broker.js";
import { envelopeOf } from "../redis/redis-broker-helpers.js";
import { describeWithService } from "../support/services.js";
import { bodies } from "../support/transport-messages.js";
import { sharedNamespace, waitFor } from "./harness.js";

// Issue 8: a worker SIGKILLed 0-3 ms after Redis handed it a message while it waited in a
// blocking pop. BRPOP took the message off the list and the fetch script recorded it only on the
// next round trip, so for those milliseconds it existed only in the dying process's memory.
// Every message must come back to a fresh consumer: zero lost, none twice.

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const CHILD = fileURLToPath(new URL("./fixtures/fetch-loop.ts", import.meta.url));
/** Worker processes killed, and brokers (one queue each) waiting in each when it dies. */
const PROCESSES = 15;
const BROKERS = 10;
/** Processes started and killed side by side. */
const LANES = 3;
const HOUR = 3_600_000;

/** How many connections named `name` are blocked in a command (CLIENT LIST flags contain "b"). */
async function blockedCount(redis: Redis, name: string): Promise<number> {
  const list = (await redis.call("CLIENT", "LIST")) as string;
  return list.split("\n").filter((l) => l.includes(` name=${name} `) && /\bflags=\S*b/.test(l)).length;
}

/** Spawn a process of fetching brokers, wait until each blocks, push one message to each queue, SIGKILL it 0-3 ms later. */
async function killRightAfterPop(redis: Redis, url: string, prefix: string, queues: string[], bodies: string[]): Promise<void> {
  const name = `ebbtest-kill-${randomUUID()}`;
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, url, name, ...queues], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  try {
    const ready = async () => child.exitCode !== null || (out.includes("ready\n") && (await blockedCount(redis, name)) >= queues.length);
    await waitFor(`the child's brokers to block in their fetches\n${out}`, ready, 20_000, 5);
    expect(child.exitCode, out).toBeNull();
    const push = redis.pipeline();
    queues.forEach((q, i) => {
      push.lpush(`${prefix}${q}`, envelopeOf(bodies[i]!, q));
    });
    await push.exec();
    // The replies mean Redis has served the blocked fetches; kill the process within 0-3 ms of that.
    const until = performance.now() + Math.random() * 3;
    while (performance.now() < until);
  } finally {
    child.kill("SIGKILL");
    await exited;
  }
}

await describeWithService("redis", "redis e2e: a worker SIGKILLed right after the blocking pop", () => {
  it(`loses none of ${PROCESSES * BROKERS} messages each pushed 0-3 ms before its worker was killed`, async () => {
    const { redis, url, prefix } = sharedNamespace();
    const queues = Array.from({ length: BROKERS }, (_, i) => `kill${i}`);
    const sent: string[] = [];
    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        for (let p = lane; p < PROCESSES; p += LANES) {
          // Lanes take separate queues, so each message waits for exactly one process.
          const mine = queues.map((q) => `${q}.${lane}`);
          const batch = mine.map((q) => `${q}:${p}`);
          sent.push(...batch);
          await killRightAfterPop(redis, url, prefix, mine, batch);
        }
      }),
    );

    // The kills hit the window: some messages were neither on their list nor leased when their worker died.
    const all = Array.from({ length: LANES }, (_, lane) => queues.map((q) => `${q}.${lane}`)).flat();
    const onLists = (await Promise.all(all.map((q) => redis.llen(`${prefix}${q}`)))).reduce((a, b) => a + b, 0);
    const leased = await redis.hlen(`${prefix}unacked`);
    expect(onLists + leased, `${onLists} on their lists, ${leased} leased, of ${sent.length}`).toBeLessThan(sent.length);

    // A fresh consumer two hours later: the dead workers' leases and hand-offs are all due.
    const [s, us] = await redis.time();
    const offset = Number(s) * 1000 + Number(us) / 1000 - Date.now() + 2 * HOUR;
    const fresh = await RedisBroker.connect({ url, clock: () => Date.now() + offset });
    try {
      const got: string[] = [];
      // Until every message is back, or 15 s (then the comparison below names the missing ones).
      const deadline = performance.now() + 15_000;
      while (got.length < sent.length && performance.now() < deadline) {
        const batch = await fresh.fetch(all, 100, { visibilityTimeoutMs: HOUR, waitMs: 200 });
        for (const d of batch) await fresh.ack(d);
        got.push(...bodies(batch));
      }
      expect([...got].sort()).toEqual([...sent].sort());
    } finally {
      await fresh.close();
    }
  }, 90_000);
});

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { expect, it, onTestFinished } from "vitest";
import type { App } from "../../src/app.js";
import { currentTask } from "../../src/task-context.js";
import { namespace } from "../redis/redis-broker-helpers.js";
import { describeWithService } from "../support/services.js";
import { textMessage } from "../support/transport-messages.js";
import { runWorker, sharedNamespace, sleep, testApp, waitFor } from "./harness.js";

// The visibility timeout on a real Redis, between Ebb workers: a live worker keeps its lease on a
// task that outlasts the timeout (no second run), and a worker that dies mid-task loses it, so
// another worker runs the task after the timeout and the result is stored once.

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const CHILD = fileURLToPath(new URL("./fixtures/slow-worker.ts", import.meta.url));

interface Run {
  by: string;
  id: string;
  redelivered: boolean;
  at: number;
}

/** Counts the results published on one task's Celery channel (store-result.lua publishes each write). */
async function countPublishes(redis: Redis, channel: string): Promise<{ count: () => Promise<number>; close: () => void }> {
  const sub = redis.duplicate();
  let n = 0;
  sub.on("message", (ch: string, msg: string) => void (ch === channel && JSON.parse(msg).status === "SUCCESS" && n++));
  await sub.subscribe(channel);
  return {
    // A PING on the same connection comes back after every message published before it.
    count: async () => {
      await sub.ping();
      return n;
    },
    close: () => sub.disconnect(),
  };
}

await describeWithService("redis", "redis e2e: visibility timeout between workers", () => {
  function slowTask(app: App, by: string, runs: Run[], ms: number) {
    return app.task("e2e.slow", async (v: string) => {
      runs.push({ by, id: currentTask().id, redelivered: currentTask().redelivered, at: performance.now() });
      await sleep(ms);
      return `${by}:${v}`;
    });
  }

  it("a task that runs 5 s under a 2 s visibility timeout is not handed to a second live worker", async () => {
    const { url, redis, prefix } = sharedNamespace();
    const runs: Run[] = [];
    const quick: string[] = [];
    const apps = ["A", "B"].map((by) => {
      const app = testApp(url, { visibilityTimeout: "2s", resultTimeout: "20s" });
      slowTask(app, by, runs, 5_000);
      app.task("e2e.quick", async () => void quick.push(by));
      return app;
    });
    const workers = await Promise.all(apps.map((app) => runWorker(app, { concurrency: 1 })));

    const res = await apps[0]!.sendTask<string>("e2e.slow", ["x"]);
    const pubs = await countPublishes(redis, `${prefix}celery-task-meta-${res.id}`);
    const [first] = await waitFor("the slow task to start", () => runs.length === 1 && runs, 10_000);
    // Past the visibility timeout, the other worker is alive and fetching: it takes new work. (Two
    // tasks: the busy worker may prefetch one, never both.)
    await sleep(2_500);
    const other = first!.by === "A" ? "B" : "A";
    for (let i = 0; i < 2; i++) await apps[1]!.sendTask("e2e.quick");
    await waitFor(`worker ${other} to run a quick task`, () => quick.includes(other), 5_000);

    expect(await res.get({ timeoutMs: 20_000 })).toBe(`${first!.by}:x`);
    await Promise.all(workers.map(({ worker }) => worker.stop()));
    expect(runs.map((r) => [r.id, r.redelivered])).toEqual([[res.id, false]]);
    expect(await pubs.count()).toBe(1);
    expect(await redis.hlen(`${prefix}unacked`)).toBe(0);
    pubs.close();
  }, 30_000);

  it("after a worker is SIGKILLed mid-task, another worker runs it again after the timeout; one result", async () => {
    const { url, redis, prefix } = sharedNamespace();
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, url], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    try {
      // tsx compiles the child at start: tens of seconds on a loaded 2-core machine.
      await waitFor(`the child worker to be ready\n${out}`, () => out.includes("ready\n") || child.exitCode !== null, 60_000);
      expect(out).toContain("ready\n");

      const app = testApp(url, { visibilityTimeout: "2s", resultTimeout: "20s", resultExtended: true });
      const runs: Run[] = [];
      slowTask(app, "parent", runs, 10);
      const res = await app.sendTask<string>("e2e.slow", ["y"]);
      const pubs = await countPublishes(redis, `${prefix}celery-task-meta-${res.id}`);
      await waitFor("the child to start the task", () => out.includes(`started ${res.id}\n`), 10_000);
      const startedAt = performance.now();
      child.kill("SIGKILL");
      await exited;
      expect(await redis.hlen(`${prefix}unacked`)).toBe(1);

      const { worker } = await runWorker(app, { concurrency: 2, name: "parent-worker" });
      expect(await res.get({ timeoutMs: 20_000 })).toBe("parent:y");
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ id: res.id, redelivered: true });
      // Not before the lease ran out (the child took it a moment before it printed "started").
      expect(runs[0]!.at - startedAt).toBeGreaterThan(1_500);
      const meta = JSON.parse((await redis.get(`${prefix}celery-task-meta-${res.id}`))!);
      expect(meta).toMatchObject({ status: "SUCCESS", result: "parent:y", worker: "parent-worker" });
      await worker.stop();
      expect(await pubs.count()).toBe(1);
      expect(await redis.hlen(`${prefix}unacked`)).toBe(0);
      pubs.close();
    } finally {
      child.kill("SIGKILL");
    }
  }, 100_000);

  // A live worker's lease must survive its own refreshes. The worker refreshes every vt/3 without
  // waiting for the previous refresh, and a Redis outage queues several of them (ioredis's offline
  // queue); an ack can also cross a refresh in flight. Both go to Redis with the score the broker
  // last saw confirmed, so the later one no longer matches: the broker forgets its own lease, the
  // ack does nothing, and the finished message is handed out again after the timeout.
  const VT = 3_000;
  /** Let a started extend() put its script on the wire (microtasks only: its reply cannot arrive yet). */
  const onTheWire = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  async function leasedMessage() {
    const ns = await namespace();
    onTestFinished(() => ns.cleanup());
    const broker = await ns.broker();
    await broker.publish(textMessage("m"), { queue: "q", priority: 0, availableAt: null });
    const [d] = await broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    expect(d).toBeDefined();
    return { ns, broker, delivery: d! };
  }

  it("two lease refreshes in flight at once (as an outage queues them) keep the lease: the ack then settles it", async () => {
    const { ns, broker, delivery } = await leasedMessage();
    ns.clock.advance(1_000);
    const first = broker.extend([delivery], VT);
    await onTheWire();
    ns.clock.advance(1_000);
    await Promise.all([first, broker.extend([delivery], VT)]);
    await broker.ack(delivery);
    expect(await ns.redis.hlen(`${ns.prefix}unacked`)).toBe(0);
  });

  it("an ack that crosses a lease refresh in flight still settles the message", async () => {
    const { ns, broker, delivery } = await leasedMessage();
    ns.clock.advance(1_000);
    const refresh = broker.extend([delivery], VT);
    await onTheWire();
    await Promise.all([refresh, broker.ack(delivery)]);
    expect(await ns.redis.hlen(`${ns.prefix}unacked`)).toBe(0);
  });
});

import { afterAll, beforeAll, expect, it } from "vitest";
import { currentTask } from "../../src/task-context.js";
import { describeInterop, ebbSide, eventually, pySend, startPythonWorker, type EbbSide, type PythonWorker } from "./harness.js";

/**
 * One queue, two kinds of worker: a Python Celery worker and an Ebb worker consume the same
 * "celery" queue while a Python client and an Ebb client each send half of 200 tasks. Each run
 * appends "<who>:<task id>" to one Redis list, so a lost or doubled task shows.
 */
const PER_SIDE = 100;
const RECORDS = "interop:records";

let py: PythonWorker | undefined;
let ebb: EbbSide;

await describeInterop("Python and Ebb workers share one queue (a redis-server of its own)", (redis) => {
  beforeAll(async () => {
    ebb = ebbSide(redis.url, (app) => {
      app.task("interop.record", async (listKey: string = RECORDS) => {
        const id = currentTask().id;
        await redis.client.rpush(listKey, `ebb:${id}`);
        return id;
      });
    });
    py = await startPythonWorker(redis.url);
    await ebb.startWorker(4);
  });

  afterAll(async () => {
    await ebb?.close();
    await py?.stop();
  });

  it("runs 200 tasks sent half from Python, half from Ebb, each exactly once, all SUCCESS", async () => {
    const [fromPython, fromEbb] = await Promise.all([
      pySend(redis.url, "interop.record", "--count", String(PER_SIDE)),
      Promise.all(Array.from({ length: PER_SIDE }, () => ebb.app.sendTask<string>("interop.record").then((r) => r.id))),
    ]);
    const sent = [...fromPython, ...fromEbb];
    expect(new Set(sent).size).toBe(2 * PER_SIDE);

    // Every result, read through Ebb (woken by both workers' PUBLISH): SUCCESS with the task's own id.
    const values = await Promise.all(sent.map((id) => ebb.app.asyncResult<string>(id).get({ timeoutMs: 60_000 })));
    expect(values).toEqual(sent);
    for (const id of sent) {
      expect(JSON.parse((await redis.client.get(`celery-task-meta-${id}`))!)).toMatchObject({ task_id: id, status: "SUCCESS", result: id });
    }

    // Nothing left to deliver: the queue's lists and the unacked hash are empty, so no late duplicate can come.
    await eventually(async () => ((await redis.client.hlen("unacked")) === 0 ? true : undefined), 30_000, "the unacked hash to empty");
    const queued = await Promise.all(["celery", "celery\x06\x163", "celery\x06\x166", "celery\x06\x169"].map((k) => redis.client.llen(k)));
    expect(queued).toEqual([0, 0, 0, 0]);

    const records = await redis.client.lrange(RECORDS, 0, -1);
    const ranIds = records.map((r) => r.slice(r.indexOf(":") + 1));
    const counts = new Map<string, number>();
    for (const id of ranIds) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect([...counts.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(new Set(ranIds)).toEqual(new Set(sent));
    expect(records).toHaveLength(2 * PER_SIDE);

    // Both kinds of worker took part, whichever client sent the task.
    const byWorker = {
      python: records.filter((r) => r.startsWith("python:")).length,
      ebb: records.filter((r) => r.startsWith("ebb:")).length,
    };
    expect(byWorker.python).toBeGreaterThan(0);
    expect(byWorker.ebb).toBeGreaterThan(0);
    expect(byWorker.python + byWorker.ebb).toBe(2 * PER_SIDE);
  }, 120_000);
});

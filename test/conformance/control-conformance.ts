import { describe, expect, it } from "vitest";
import type { App } from "../../src/app.js";
import type { AppConfig } from "../../src/config.js";
import { TaskRevokedError } from "../../src/errors.js";
import { currentTask } from "../../src/task-context.js";
import { waitFor } from "../support/wait.js";

/**
 * One remote control suite for every broker that carries it (broker.control): what Ebb's client
 * and workers do over it. The cases a broker cannot show are picked by what it declares:
 * `heldEta` only where the worker holds ETA messages itself (no delayed delivery), `kept` only
 * where revokes reach workers that start later (delivery "kept").
 */
export interface ControlTarget {
  /** A fresh app (broker and backend) of its own, closed when the test ends. */
  app(config?: AppConfig): App;
  /** An app whose broker hands out ETA messages early, for the worker to hold; null when none. */
  heldEta: (() => App) | null;
  /** Whether the broker carries Celery events (capabilities.events). */
  events: boolean;
  /** Whether revokes are kept for workers that start later (control.delivery "kept"). */
  kept: boolean;
}

/** A task that runs until the test opens its gate (or its signal aborts). */
function gated(app: App) {
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  const ran: string[] = [];
  const busy = app.task("busy", async () => {
    const signal = currentTask().signal;
    await Promise.race([gate, new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }))]);
    return "done";
  });
  const quick = app.task("quick", async (n: number) => {
    ran.push(String(n));
    return n;
  });
  return { busy, quick, ran, open: () => open() };
}

export function controlConformance(name: string, target: ControlTarget): void {
  const newApp = target.app;
  describe(`remote control conformance: ${name}`, () => {
    it("ping, registered, active_queues, stats, active, query_task and conf answer with Celery's shapes, by node name", async () => {
      const app = newApp();
      const { busy, open } = gated(app);
      const worker = await app.worker({ concurrency: 1, name: "ebb-a@test" });
      const running = worker.start();
      await waitFor("the worker to listen", async () => Object.keys(await app.control.ping()).length === 1);
      expect(await app.control.ping()).toEqual({ "ebb-a@test": { ok: "pong" } });
      const inspect = app.control.inspect();
      expect(await inspect.registered()).toEqual({ "ebb-a@test": ["busy", "ebb.cleanup", "quick"] });
      const queues = (await inspect.activeQueues())["ebb-a@test"] as Record<string, unknown>[];
      expect(queues.map((q) => [q.name, q.routing_key, (q.exchange as { type: string }).type])).toEqual([["celery", "celery", "direct"]]);
      const r = await busy.delay();
      await waitFor("the busy task to run", () => worker.active === 1);
      const active = (await inspect.active())["ebb-a@test"] as Record<string, unknown>[];
      expect(active).toHaveLength(1);
      expect(active[0]).toMatchObject({
        id: r.id,
        name: "busy",
        type: "busy",
        args: [],
        kwargs: {},
        hostname: "ebb-a@test",
        worker_pid: process.pid,
      });
      expect(typeof active[0]!.time_start).toBe("number");
      const query = await app.control.broadcast("query_task", { ids: [r.id, "not-here"] }, { reply: true });
      expect(query["ebb-a@test"]).toEqual({ [r.id]: ["active", expect.objectContaining({ id: r.id, name: "busy" })] });
      const conf = (await app.control.broadcast("conf", {}, { reply: true }))["ebb-a@test"] as Record<string, unknown>;
      expect(conf).toMatchObject({ worker_concurrency: 1, task_acks_late: true, task_track_started: false, timezone: "UTC" });
      expect(conf.broker_url).toEqual(expect.any(String));
      const stats = (await inspect.stats())["ebb-a@test"] as Record<string, unknown>;
      expect(stats).toMatchObject({ total: { busy: 1 }, pid: process.pid, pool: { "max-concurrency": 1 } });
      open();
      expect(await r.get({ timeoutMs: 5_000 })).toBe("done");
      await worker.stop();
      await running;
      expect(await app.control.ping({ timeoutMs: 50 })).toEqual({});
    });

    it("answers only requests addressed to it; an unknown command answers an error naming it", async () => {
      const app = newApp();
      const a = await app.worker({ name: "ebb-a@test" });
      const b = await app.worker({ name: "ebb-b@test" });
      const runs = [a.start(), b.start()];
      await waitFor("both to listen", async () => Object.keys(await app.control.ping()).length === 2);
      expect(Object.keys(await app.control.ping({ destination: ["ebb-b@test"] }))).toEqual(["ebb-b@test"]);
      const replies = await app.control.broadcast("frobnicate", {}, { reply: true, destination: ["ebb-a@test"] });
      expect(replies["ebb-a@test"]).toEqual({
        error: expect.stringMatching(/No such control command: "frobnicate"; Ebb workers answer ping/),
      });
      await Promise.all([a.stop(), b.stop()]);
      await Promise.all(runs);
    });

    it("20 tasks revoked while queued behind a busy worker never run, and each ends REVOKED", async () => {
      const app = newApp();
      const { busy, quick, ran, open } = gated(app);
      const worker = await app.worker({ concurrency: 1, prefetch: 4 });
      const running = worker.start();
      const blocker = await busy.delay();
      await waitFor("the busy task to run", () => worker.active === 1);
      const queued = await Promise.all(Array.from({ length: 20 }, (_, i) => quick.delay(i)));
      const keep = await quick.delay(99);
      // Prefetched behind the busy one, as inspect reserved shows them: the revoke must stop these too.
      await waitFor("some to be prefetched", async () => {
        const reserved = (await app.control.inspect().reserved())[worker.name] as { id: string }[] | undefined;
        return (reserved?.length ?? 0) > 0;
      });
      const replies = await app.control.revoke(
        queued.map((r) => r.id),
        { reply: true },
      );
      expect(replies[worker.name]).toEqual({ ok: expect.stringMatching(/^tasks .* flagged as revoked$/) });
      expect(((await app.control.inspect().revoked())[worker.name] as string[]).sort()).toEqual(queued.map((r) => r.id).sort());
      open();
      expect(await blocker.get({ timeoutMs: 5_000 })).toBe("done");
      expect(await keep.get({ timeoutMs: 5_000 })).toBe(99);
      for (const r of queued) {
        const err = await r.get({ timeoutMs: 5_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TaskRevokedError);
        expect((err as TaskRevokedError).reason).toBe("revoked");
      }
      expect(ran).toEqual(["99"]);
      await worker.stop();
      await running;
    });

    it("AsyncResult.revoke({ terminate }) aborts the running task's signal and stores REVOKED (terminated)", async () => {
      const app = newApp();
      const { busy } = gated(app);
      const worker = await app.worker({ concurrency: 2 });
      const told: unknown[] = [];
      worker.lifecycle.on("revoked", (_m, info) => told.push(info));
      const running = worker.start();
      const r = await busy.delay();
      await waitFor("the busy task to run", () => worker.lifecycle.activeTask(r.id));
      const signal = worker.lifecycle.activeTask(r.id)!.signal;
      const replies = await r.revoke({ terminate: true, reply: true });
      expect(replies[worker.name]).toEqual({ ok: `terminate: ${r.id}` });
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBeInstanceOf(TaskRevokedError);
      const err = await r.get({ timeoutMs: 5_000 }).catch((e: unknown) => e);
      expect((err as TaskRevokedError).reason).toBe("terminated");
      expect((await r.info()).result).toEqual({
        exc_type: "TaskRevokedError",
        exc_message: ["terminated"],
        exc_module: "celery.exceptions",
      });
      expect(told).toEqual([{ reason: "terminated", expired: false, terminated: true }]);
      await worker.stop();
      await running;
    });

    it("a terminated handler that ignores its signal still ends REVOKED, its return value dropped", async () => {
      const app = newApp();
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const stubborn = app.task("stubborn", async () => {
        await gate;
        return "finished anyway";
      });
      const worker = await app.worker();
      const running = worker.start();
      const r = await stubborn.delay();
      await waitFor("it to run", () => worker.lifecycle.activeTask(r.id));
      expect(worker.revoke([r.id], { terminate: true })).toEqual([r.id]);
      release();
      expect(((await r.get({ timeoutMs: 5_000 }).catch((e: unknown) => e)) as TaskRevokedError).reason).toBe("terminated");
      await worker.stop();
      await running;
    });

    const heldEta = target.heldEta;
    if (heldEta)
      it("a message held for its ETA is shown by inspect scheduled, and once revoked ends REVOKED without waiting for its ETA", async () => {
        const app = heldEta();
        const { quick, ran } = gated(app);
        const worker = await app.worker({ etaCheckMs: 20 });
        const running = worker.start();
        const r = await quick.applyAsync([1], { countdown: "1h" });
        await waitFor("the message to be held", () => worker.held === 1);
        const scheduled = (await app.control.inspect().scheduled())[worker.name] as { eta: string; request: { id: string } }[];
        expect(scheduled.map((s) => s.request.id)).toEqual([r.id]);
        expect(Date.parse(scheduled[0]!.eta)).toBeGreaterThan(Date.now() + 3_500_000);
        await app.control.revoke(r.id);
        const err = await r.get({ timeoutMs: 5_000 }).catch((e: unknown) => e);
        expect((err as TaskRevokedError).reason).toBe("revoked");
        expect(ran).toEqual([]);
        await worker.stop();
        await running;
      });

    it("enable_events / disable_events switch the worker's events where the broker carries them, else answer why not; shutdown stops it warmly", async () => {
      const app = newApp();
      const worker = await app.worker({ name: "ebb-s@test" });
      const running = worker.start();
      await waitFor("the worker to listen", async () => Object.keys(await app.control.ping()).length === 1);
      if (target.events) {
        expect(await app.control.enableEvents({ reply: true })).toEqual({ "ebb-s@test": { ok: "task events enabled" } });
        expect(await app.control.enableEvents({ reply: true })).toEqual({ "ebb-s@test": { ok: "task events already enabled" } });
        expect(worker.events.enabled).toBe(true);
        expect(await app.control.disableEvents({ reply: true })).toEqual({ "ebb-s@test": { ok: "task events disabled" } });
      } else {
        expect(await app.control.enableEvents({ reply: true })).toEqual({
          "ebb-s@test": { error: expect.stringMatching(/cannot carry Celery events; use a Redis broker/) },
        });
      }
      expect(worker.events.enabled).toBe(false);
      expect(await app.control.shutdown({ reply: true })).toEqual({ "ebb-s@test": { ok: expect.stringMatching(/shutting down/) } });
      await running;
    });

    if (target.kept)
      it("a revoke sent before any worker listens still reaches a worker that starts later: the task ends REVOKED unrun", async () => {
        const app = newApp();
        const { quick, ran } = gated(app);
        const taskId = "revoked-before-any-worker";
        expect(await app.control.revoke(taskId)).toEqual({});
        const r = await quick.applyAsync([1], { taskId });
        const after = await quick.delay(2);
        const worker = await app.worker();
        const running = worker.start();
        expect(await after.get({ timeoutMs: 5_000 })).toBe(2);
        const err = await r.get({ timeoutMs: 5_000 }).catch((e: unknown) => e);
        expect((err as TaskRevokedError).reason).toBe("revoked");
        expect(ran).toEqual(["2"]);
        expect(((await app.control.inspect().revoked())[worker.name] as string[]).includes(taskId)).toBe(true);
        await worker.stop();
        await running;
      });
  });
}

/**
 * Celery canvas links (link=, chain(), chord) are not run by Ebb workers yet. A message that
 * carries them still runs, and the worker says out loud that its links were not followed.
 */
import { describe, expect, it } from "vitest";
import { encodeTaskMessage, makeTaskMessage } from "../../src/protocol/task-message.js";
import { collectingLogger, newApp, startWorker } from "../app/helpers.js";

describe("canvas links", () => {
  it("runs the task and warns that its callbacks were not followed; a plain task gets no warning", async () => {
    const { log, lines } = collectingLogger();
    const app = newApp({}, log);
    app.task("linked", async (x: number) => x + 1);
    await startWorker(app, { concurrency: 1 });
    const broker = await app.broker();
    const linked = makeTaskMessage({
      task: "linked",
      args: [1],
      embed: { callbacks: [{ task: "next", args: [] }], errbacks: null, chain: null, chord: null },
    });
    const plain = makeTaskMessage({ task: "linked", args: [2] });
    for (const m of [linked, plain]) await broker.publish(encodeTaskMessage(m), { queue: "celery", priority: 0, availableAt: null });
    expect(await app.asyncResult(linked.id).get({ timeoutMs: 10_000 })).toBe(2);
    expect(await app.asyncResult(plain.id).get({ timeoutMs: 10_000 })).toBe(3);
    const warnings = lines.filter((l) => l.level === "warn" && l.message.includes("canvas"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain(linked.id);
    expect(warnings[0]!.message).toContain("callbacks");
  });
});

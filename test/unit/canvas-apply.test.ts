/**
 * What applySignature publishes, message by message, against Celery 5.2.6's layout
 * (celery/canvas.py): pure, with a collecting publisher and a memory chord store.
 */
import { describe, expect, it } from "vitest";
import type { ChordStore } from "../../src/backends/chord-store.js";
import { MemoryChords } from "../../src/backends/memory/memory-chords.js";
import { applySignature, type CanvasDeps } from "../../src/canvas/apply-signature.js";
import { chainOf, chordOf, groupOfTasks, taskSignature } from "../../src/canvas/make-signature.js";
import { merge, toSignature, type SignatureDict } from "../../src/canvas/signature.js";
import { manualClock } from "../../src/clock.js";
import { ConfigError, ProtocolError } from "../../src/errors.js";
import type { TaskMessage } from "../../src/protocol/task-message.js";

function harness(chords: ChordStore | null = new MemoryChords(manualClock())) {
  const sent: TaskMessage[] = [];
  const events: string[] = [];
  const spy: ChordStore | null = chords && {
    setChordSize: async (g, n, o) => {
      events.push(`size ${n}`);
      await chords.setChordSize(g, n, o);
    },
    chordPartReturned: (g, p, o) => chords.chordPartReturned(g, p, o),
    chordCompleted: (g) => chords.chordCompleted(g),
  };
  const deps: CanvasDeps = {
    publish: async (m) => {
      events.push(`publish ${m.task}`);
      sent.push(m);
    },
    chords: spy,
    backendUrl: "memory://",
    registry: new Map(),
    config: { defaultQueue: "celery", resultExpiresMs: 86_400_000 },
    now: manualClock(),
  };
  return { deps, sent, events };
}

const s = (task: string, ...args: unknown[]) => taskSignature(task, args);

describe("signatures", () => {
  it("prepends partial args unless immutable, merges kwargs, and keeps an existing group_id", () => {
    const sig = taskSignature("t", [2], { k: 1 }, { group_id: "g1", queue: "a" });
    expect(merge(sig, [1], { j: 2 }, { group_id: "g2", queue: "b" })).toEqual({
      args: [1, 2],
      kwargs: { k: 1, j: 2 },
      options: { group_id: "g1", queue: "b" },
    });
    expect(merge({ ...sig, immutable: true }, [1], { j: 2 }, {}).args).toEqual([2]);
  });

  it("rejects what is not a signature with a ProtocolError that names it and what was wrong", () => {
    expect(() => toSignature({ args: [] }, "callback")).toThrow(/callback has no task name/);
    expect(() => toSignature({ task: "t", args: 1 }, "callback")).toThrow(ProtocolError);
    expect(() => toSignature({ task: "t", subtask_type: "chunks" }, "x")).toThrow(/route xmap\/xstarmap\/chunks to Python workers/);
  });
});

describe("applySignature", () => {
  it("sends a chain's first step carrying the rest reversed, every step with its own task id", async () => {
    const { deps, sent } = harness();
    const applied = await applySignature(deps, chainOf([s("a", 1), s("b", 2), s("c", 3)]), [0]);
    expect(sent).toHaveLength(1);
    const [first] = sent;
    expect(first!.task).toBe("a");
    expect(first!.args).toEqual([0, 1]);
    const rest = first!.embed.chain as SignatureDict[];
    expect(rest.map((x) => x.task)).toEqual(["c", "b"]);
    // The chain's result is its last step's, frozen before anything is sent.
    expect(applied).toEqual({ kind: "task", id: rest[0]!.options.task_id });
    expect(rest[1]!.options.task_id).toEqual(expect.any(String));
  });

  it("sends the next chain step as the worker does: parent's result first, parent_id and root_id set", async () => {
    const { deps, sent } = harness();
    await applySignature(deps, s("b", 2), [40], {}, { chain: [], parent_id: "p1", root_id: "r1" });
    expect(sent[0]).toMatchObject({ task: "b", args: [40, 2], parentId: "p1", rootId: "r1" });
    expect(sent[0]!.embed.chain).toEqual([]);
  });

  it("sends a chord's header with group id, group_index and the body, after setting its size", async () => {
    const { deps, sent, events } = harness();
    const body = taskSignature("sum", [], {}, { link_error: [s("err")] });
    const applied = await applySignature(deps, chordOf(groupOfTasks([s("h", 1), s("h", 2), s("h", 3)]), body));
    expect(events).toEqual(["publish h", "publish h", "size 3", "publish h"]);
    expect(sent.map((m) => m.groupIndex)).toEqual([0, 1, 2]);
    const groups = new Set(sent.map((m) => m.group));
    expect(groups.size).toBe(1);
    expect([...groups][0]).toEqual(expect.any(String));
    for (const m of sent) expect((m.embed.chord as SignatureDict).options.task_id).toBe(applied.id);
    expect((sent[0]!.embed.chord as SignatureDict).options.link_error).toEqual([s("err")]);
  });

  it("sends an empty chord's body at once with no results", async () => {
    const { deps, sent } = harness();
    await applySignature(deps, chordOf(groupOfTasks([]), s("sum")));
    expect(sent.map((m) => [m.task, m.args])).toEqual([["sum", [[]]]]);
  });

  it("refuses a chord when the result backend cannot count its parts, before sending anything", async () => {
    const { deps, sent } = harness(null);
    const chord = chordOf(groupOfTasks([s("h", 1)]), s("sum"));
    await expect(applySignature(deps, chord)).rejects.toThrow(ConfigError);
    await expect(applySignature(deps, chord)).rejects.toThrow(/cannot count chord parts/);
    expect(sent).toEqual([]);
  });

  it("routes by the signature's queue, countdown and priority options", async () => {
    const { deps, sent } = harness();
    await applySignature(deps, taskSignature("t", [], {}, { queue: "py", countdown: 10, priority: 3 }));
    expect(sent[0]).toMatchObject({ queue: "py", priority: 3, eta: deps.now() + 10_000 });
  });
});

describe("signature options Celery's apply_async takes", () => {
  it("carries time_limit / soft_time_limit (seconds) and compression into the message", async () => {
    const { deps, sent } = harness();
    await applySignature(deps, taskSignature("t", [1], {}, { time_limit: 30, soft_time_limit: 20, compression: "zlib" }), []);
    await applySignature(deps, taskSignature("u", [1]), []);
    expect(sent[0]).toMatchObject({ timeLimitMs: 30_000, softTimeLimitMs: 20_000, compression: "zlib" });
    expect(sent[1]).toMatchObject({ timeLimitMs: null, softTimeLimitMs: null });
    expect(sent[1]!.compression).toBeUndefined();
    await expect(applySignature(deps, taskSignature("v", [], {}, { compression: "lzma" }), [])).rejects.toThrow(/lzma/);
  });
});

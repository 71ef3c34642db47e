import { checkCompression } from "../protocol/compression.js";
import type { ChordStore } from "../backends/chord-store.js";
import type { ResolvedConfig } from "../config.js";
import { ConfigError, ProtocolError } from "../errors.js";
import { makeTaskMessage, type TaskMessage } from "../protocol/task-message.js";
import { parseCeleryTime } from "../protocol/timestamps.js";
import type { TaskDefinition } from "../task.js";
import { freeze, freezeGroupTasks, groupOf, prepareSteps } from "./freeze.js";
import { chordSizeOf, clone, given, isObject, listOf, merge, toSignature, type SignatureDict, type SignatureOptions } from "./signature.js";
import { newTaskId } from "../protocol/task-id.js";

/**
 * Send a signature the way Celery's apply_async does (celery/canvas.py), so that whatever Celery
 * worker or Ebb worker takes each message, the canvas runs on: a task is one message; a chain
 * sends its first step carrying the rest (reversed) in its chain field; a group sends each member
 * with group_id and group_index; a chord sets the header size in the result backend, then sends
 * the header with the body in each member's chord field.
 */
export interface CanvasDeps {
  /** Publish one message; queue, priority and ETA are the message's own. */
  publish(message: TaskMessage): Promise<void>;
  /** The result backend's chord counting, or null when it has none. */
  chords: ChordStore | null;
  /** The result backend's URL (for errors). */
  backendUrl: string;
  registry: ReadonlyMap<string, TaskDefinition>;
  config: Pick<ResolvedConfig, "defaultQueue" | "resultExpiresMs">;
  /** Epoch ms: countdown and numeric expires count from it. */
  now(): number;
}

/** What was sent: a task id (a task, a chain's last step, a chord's body), or a group's id and members. */
export type Applied = { kind: "task"; id: string } | { kind: "group"; id: string; ids: string[] };

export async function applySignature(
  deps: CanvasDeps,
  value: unknown,
  args: readonly unknown[] = [],
  kwargs: Record<string, unknown> = {},
  options: SignatureOptions = {},
): Promise<Applied> {
  const sig = toSignature(value, "signature");
  const opts = given(options);
  switch (sig.subtask_type) {
    case "chain":
      return applyChain(deps, sig, args, kwargs, opts);
    case "group":
      return applyGroup(deps, sig, args, kwargs, opts);
    case "chord":
      return applyChord(deps, sig, args, kwargs, opts);
    default: {
      const m = args.length > 0 || Object.keys(kwargs).length > 0 || Object.keys(opts).length > 0 ? merge(sig, args, kwargs, opts) : sig;
      return { kind: "task", id: await send(deps, sig.task, m.args, m.kwargs, m.options) };
    }
  }
}

/** Celery's _chain.run. */
async function applyChain(
  deps: CanvasDeps,
  chain: SignatureDict,
  args: readonly unknown[],
  kwargs: Record<string, unknown>,
  options: SignatureOptions,
): Promise<Applied> {
  const { task_id, group_id, chord, link, link_error, root_id, parent_id, group_index, ...rest } = { ...chain.options, ...options };
  const partial = args.length > 0 && !chain.immutable ? [...args, ...chain.args] : chain.args;
  const { tasks, ids } = prepareSteps(partial, kwargs, listOf(chain.kwargs.tasks, "chain kwargs.tasks"), {
    rootId: str(root_id),
    parentId: str(parent_id),
    linkError: listOf(link_error, "chain option link_error"),
    lastTaskId: str(task_id),
    groupId: str(group_id),
    chordBody: isObject(chord) ? toSignature(chord, "chain option chord") : null,
    groupIndex: typeof group_index === "number" ? group_index : null,
    cloneSteps: true,
  });
  if (tasks.length === 0) throw new ConfigError("Cannot apply an empty chain: give chain() at least one signature");
  if (link !== undefined) tasks[0]!.options.link = [...listOf(tasks[0]!.options.link, "link"), ...listOf(link, "chain option link")];
  const first = tasks.pop()!;
  const carried = "chain" in rest ? [...listOf(rest.chain, "chain option chain"), ...tasks] : tasks;
  const applied = await applySignature(deps, first, [], {}, { ...rest, chain: carried });
  return tasks.length === 0 ? applied : { kind: "task", id: ids[0]! };
}

/** Celery's group.apply_async with _apply_tasks: members get group_id and group_index; the last sets the chord size. */
async function applyGroup(
  deps: CanvasDeps,
  group: SignatureDict,
  args: readonly unknown[],
  kwargs: Record<string, unknown>,
  options: SignatureOptions,
): Promise<Applied> {
  if (options.link !== undefined) throw new ConfigError("Cannot link a callback to a group: use a chord (chord(header, body))");
  if (options.link_error !== undefined) throw new ConfigError("Cannot link an errback to a group: link it to each task of the group");
  const { task_id, chord, ...opts } = { ...group.options, ...options };
  const groupId = str(task_id) ?? newTaskId();
  opts.group_id = groupId;
  const rootId = str(opts.root_id);
  const members: { sig: SignatureDict; id: string }[] = [];
  const unroll = (tasks: unknown[]) => {
    for (const t of tasks) {
      const sig = clone(toSignature(t, "group member"));
      if (sig.subtask_type === "group") unroll(listOf(sig.kwargs.tasks, "group kwargs.tasks"));
      else members.push({ sig, id: freeze(sig, { groupId, rootId }) });
    }
  };
  unroll(listOf(group.kwargs.tasks, "group kwargs.tasks"));
  let chordSize = 0;
  for (const [i, { sig }] of members.entries()) {
    const chordObj = chord ?? sig.options.chord;
    chordSize += chordSizeOf(sig);
    if (chordObj !== undefined && chordObj !== null && i === members.length - 1) {
      if (!deps.chords)
        throw new ConfigError(
          `The result backend ${deps.backendUrl} cannot count chord parts, so this chord's body would never run; use a Redis, SQLite or memory result backend for chords`,
        );
      await deps.chords.setChordSize(groupId, chordSize, { expiresMs: deps.config.resultExpiresMs });
    }
    await applySignature(deps, sig, args, kwargs, { ...opts, ...(chordObj !== undefined && chordObj !== null ? { chord: chordObj } : {}) });
  }
  return { kind: "group", id: groupId, ids: members.map((m) => m.id) };
}

/** Celery's _chord.apply_async and run. */
async function applyChord(
  deps: CanvasDeps,
  chord: SignatureDict,
  args: readonly unknown[],
  kwargs: Record<string, unknown>,
  options: SignatureOptions,
): Promise<Applied> {
  const partial = args.length > 0 && !chord.immutable ? [...args, ...chord.args] : chord.args;
  const body = clone(toSignature(kwargs.body ?? chord.kwargs.body, "chord body"), [], {}, options);
  const header = clone(groupOf(chord));
  const { task_id, ...opts } = { ...chord.options, ...options };
  const groupId = str(header.options.task_id) ?? newTaskId();
  const rootId = str(body.options.root_id);
  Object.assign(body.options, opts);
  const bodyId = freeze(body, { id: str(task_id), rootId });
  const { chain: _chain, chord: _chord, ...headerOpts } = opts;
  freezeGroupTasks(header, { groupId, chord: body, rootId });
  if (listOf(header.kwargs.tasks, "chord header").length > 0)
    await applyGroup(deps, header, partial, {}, { ...headerOpts, task_id: groupId });
  // An empty header never finishes a part: send the body at once, with no results.
  else await applySignature(deps, body, [[]]);
  return { kind: "task", id: bodyId };
}

/** One task message from Celery's apply_async options (app.send_task / amqp.as_task_v2). */
async function send(
  deps: CanvasDeps,
  name: string,
  args: unknown[],
  kwargs: Record<string, unknown>,
  o: SignatureOptions,
): Promise<string> {
  const def = deps.registry.get(name);
  const now = deps.now();
  const countdown = seconds(o.countdown, "countdown", name);
  const eta = countdown !== null && countdown > 0 ? now + countdown * 1000 : instant(o.eta, "eta", name);
  const expiresS = seconds(o.expires, "expires", name, true);
  const expires =
    expiresS !== null
      ? now + Math.max(0, expiresS) * 1000
      : (instant(o.expires, "expires", name) ?? (def?.expiresMs != null ? now + def.expiresMs : null));
  const priority = typeof o.priority === "number" ? o.priority : (def?.priority ?? 0);
  // Celery's apply_async(time_limit=, soft_time_limit=) in seconds, else the task's own limits.
  const hardS = seconds(o.time_limit, "time_limit", name);
  const softS = seconds(o.soft_time_limit, "soft_time_limit", name);
  const compression = typeof o.compression === "string" ? o.compression : def?.compression;
  if (compression !== undefined) checkCompression(compression);
  const message = makeTaskMessage({
    task: name,
    args,
    kwargs,
    embed: {
      callbacks: o.link === undefined ? null : listOf(o.link, `options.link of "${name}"`),
      errbacks: o.link_error === undefined ? null : listOf(o.link_error, `options.link_error of "${name}"`),
      chain: o.chain ?? null,
      chord: o.chord ?? null,
    },
    eta,
    expires,
    queue: typeof o.queue === "string" && o.queue.length > 0 ? o.queue : (def?.queue ?? deps.config.defaultQueue),
    priority,
    ignoreResult: o.ignore_result === true,
    group: str(o.group_id),
    groupIndex: typeof o.group_index === "number" ? o.group_index : null,
    parentId: str(o.parent_id),
    timeLimitMs: hardS !== null && hardS > 0 ? hardS * 1000 : (def?.timeLimitMs ?? null),
    softTimeLimitMs: softS !== null && softS > 0 ? softS * 1000 : (def?.softTimeLimitMs ?? null),
    ...(compression !== undefined ? { compression } : {}),
    ...(str(o.task_id) ? { id: o.task_id as string } : {}),
    ...(str(o.root_id) ? { rootId: o.root_id as string } : {}),
  });
  await deps.publish(message);
  return message.id;
}

function str(v: unknown): string | null {
  return typeof v === "string" && v.length > 0 ? v : null;
}

/** A number of seconds (Celery's countdown, or expires given as a number), or null when absent or an instant. */
function seconds(v: unknown, option: string, task: string, instantAllowed = false): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (instantAllowed && typeof v === "string") return null;
  throw new ProtocolError(`Signature of "${task}" has ${option} ${JSON.stringify(v)}; expected a number of seconds`);
}

function instant(v: unknown, option: string, task: string): number | null {
  if (typeof v !== "string") return null;
  return parseCeleryTime(v, `${option} of a signature of "${task}"`);
}

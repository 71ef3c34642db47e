import { chordOf } from "./make-signature.js";
import { clone, headerOf, listOf, toSignature, type SignatureDict } from "./signature.js";
import { newTaskId } from "../protocol/task-id.js";

/**
 * Celery's freeze(): give a signature (and everything it will run) its task ids before anything
 * is sent, so results can be waited on and linked. Mutates the signature, as Celery does; callers
 * freeze clones. Returns the id whose result stands for the whole: the task's own, a chain's last
 * step, a chord's body, or a group's id.
 */
export interface FreezeOptions {
  id?: string | null;
  groupId?: string | null;
  chord?: SignatureDict | null;
  rootId?: string | null;
  parentId?: string | null;
  groupIndex?: number | null;
}

export function freeze(sig: SignatureDict, o: FreezeOptions = {}): string {
  switch (sig.subtask_type) {
    case "chain": {
      const { tasks, ids } = prepareSteps(sig.args, sig.kwargs, listOf(sig.kwargs.tasks, "chain"), {
        rootId: o.rootId ?? null,
        parentId: o.parentId ?? null,
        linkError: [],
        lastTaskId: o.id ?? null,
        groupId: o.groupId ?? null,
        chordBody: o.chord ?? null,
        groupIndex: o.groupIndex ?? null,
        cloneSteps: false,
      });
      // Steps read from JSON are new objects: keep their ids in the chain itself.
      sig.kwargs.tasks = [...tasks].reverse();
      return ids[0] ?? newTaskId();
    }
    case "group":
      return freezeGroupTasks(sig, o);
    case "chord": {
      const header = groupOf(sig);
      sig.kwargs.header = header;
      const body = toSignature(sig.kwargs.body, "chord body");
      sig.kwargs.body = body;
      freezeGroupTasks(header, { parentId: o.parentId ?? null, rootId: o.rootId ?? null, chord: body });
      return freeze(body, {
        id: o.id ?? null,
        rootId: o.rootId ?? null,
        chord: o.chord ?? null,
        groupId: o.groupId ?? null,
        groupIndex: o.groupIndex ?? null,
      });
    }
    default: {
      const opts = sig.options;
      if (typeof opts.task_id !== "string") opts.task_id = o.id ?? newTaskId();
      if (o.rootId) opts.root_id = o.rootId;
      if (o.parentId) opts.parent_id = o.parentId;
      if (o.groupId && !("group_id" in opts)) opts.group_id = o.groupId;
      if (o.chord) opts.chord = o.chord;
      if (o.groupIndex !== null && o.groupIndex !== undefined) opts.group_index = o.groupIndex;
      return opts.task_id as string;
    }
  }
}

/** A chord's header as a group signature (kwargs.header may be a plain list). */
export function groupOf(chord: SignatureDict): SignatureDict {
  const header = chord.kwargs.header;
  if (typeof header === "object" && header !== null && !Array.isArray(header)) return toSignature(header, "chord header");
  return { task: "celery.group", args: [], kwargs: { tasks: headerOf(chord) }, options: {}, subtask_type: "group", immutable: false };
}

/**
 * Celery's group._freeze_group_tasks: the group's id (its task_id option), then each member
 * (nested groups unrolled) cloned and frozen with group_id, chord, root, parent and its index.
 */
export function freezeGroupTasks(group: SignatureDict, o: FreezeOptions): string {
  const opts = group.options;
  if (typeof opts.task_id !== "string") opts.task_id = o.groupId ?? newTaskId();
  if (o.groupId) opts.group_id = o.groupId;
  if (o.chord) opts.chord = o.chord;
  if (o.groupIndex !== null && o.groupIndex !== undefined) opts.group_index = o.groupIndex;
  if (!("root_id" in opts)) opts.root_id = o.rootId ?? null;
  if (!("parent_id" in opts)) opts.parent_id = o.parentId ?? null;
  const rootId = opts.root_id as string | null;
  const parentId = opts.parent_id as string | null;
  const stack = [...listOf(group.kwargs.tasks, "group kwargs.tasks")];
  const tasks: SignatureDict[] = [];
  let index = 0;
  while (stack.length > 0) {
    const task = clone(toSignature(stack.shift(), "group member"));
    if (task.subtask_type === "group") {
      stack.unshift(...listOf(task.kwargs.tasks, "group kwargs.tasks"));
      continue;
    }
    tasks.push(task);
    freeze(task, { groupId: o.groupId ?? null, chord: o.chord ?? null, rootId, parentId, groupIndex: index++ });
  }
  group.kwargs.tasks = tasks;
  return opts.task_id as string;
}

export interface StepsOptions {
  rootId: string | null;
  parentId: string | null;
  linkError: unknown[];
  lastTaskId: string | null;
  groupId: string | null;
  chordBody: SignatureDict | null;
  groupIndex: number | null;
  /** Clone each step first (apply), or freeze them in place (freeze). */
  cloneSteps: boolean;
}

/**
 * Celery's _chain.prepare_steps: walk the steps from the last, splice nested chains, turn
 * "group then a step" into a chord of the two, freeze each (the last one with the given id,
 * group and chord), add link_error to each. Returns the steps and their ids, LAST FIRST: the
 * list a message carries as its chain, from which a worker pops the next step.
 */
export function prepareSteps(
  args: readonly unknown[],
  kwargs: Record<string, unknown>,
  steps: readonly unknown[],
  o: StepsOptions,
): { tasks: SignatureDict[]; ids: (string | null)[] } {
  const pending = [...steps];
  const tasks: SignatureDict[] = [];
  const ids: (string | null)[] = [];
  let prev: SignatureDict | null = null;
  let prevId: string | null = null;
  let i = 0;
  while (pending.length > 0) {
    let task = toSignature(pending.pop(), "chain step");
    const isFirst = pending.length === 0;
    const isLast = i === 0;
    if (task.subtask_type === "group") {
      const members = listOf(task.kwargs.tasks, "group kwargs.tasks");
      if (members.length === 1) task = toSignature(members[0], "group member"); // Celery's maybe_unroll_group
    }
    if (o.cloneSteps) task = isFirst ? clone(task, args, kwargs) : clone(task);
    else if (isFirst && !task.immutable) task.args = [...args, ...task.args];
    if (task.subtask_type === "chain") {
      pending.push(...listOf(task.kwargs.tasks, "chain kwargs.tasks"));
      continue;
    }
    if (task.subtask_type === "group" && prev) {
      // group | step → chord(group, step); the step was frozen already, so it keeps its id.
      tasks.pop();
      ids.pop();
      task = chordOf(task, prev, { ...(prevId ? { task_id: prevId } : {}), ...(o.rootId ? { root_id: o.rootId } : {}) });
    }
    const id = isLast
      ? freeze(task, { id: o.lastTaskId, rootId: o.rootId, groupId: o.groupId, chord: o.chordBody, groupIndex: o.groupIndex })
      : freeze(task, { rootId: o.rootId });
    i++;
    for (const errback of o.linkError) appendOption(task, "link_error", errback);
    tasks.push(task);
    ids.push(id);
    prev = task;
    // A chord's result object is its header's group, which has no task id to give a chord built around it.
    prevId = task.subtask_type === "chord" ? null : id;
  }
  return { tasks, ids };
}

/** Celery's append_to_list_option (link, link_error); a chord's go to its body. */
export function appendOption(sig: SignatureDict, key: "link" | "link_error", value: unknown): void {
  if (sig.subtask_type === "chord") {
    const body = toSignature(sig.kwargs.body, "chord body");
    sig.kwargs.body = body;
    appendOption(body, key, value);
    return;
  }
  const items = listOf(sig.options[key], `options.${key}`);
  if (!items.some((x) => JSON.stringify(x) === JSON.stringify(value))) items.push(value);
  sig.options[key] = items;
}

import { ProtocolError } from "../errors.js";

/**
 * Celery's signature, as it travels in JSON (celery/canvas.py, Signature is a dict):
 *
 *   {task, args, kwargs, options, subtask_type, immutable}
 *
 * subtask_type null is one task; "chain" keeps its steps in kwargs.tasks, "group" its members in
 * kwargs.tasks, "chord" its header in kwargs.header (a list, or a group signature) and its body in
 * kwargs.body. options carry Celery's apply_async option names as they are (task_id, group_id,
 * group_index, chord, link, link_error, chain, root_id, parent_id, queue, priority, countdown,
 * eta, expires, ignore_result, ...): Ebb reads the ones it implements and passes the rest on.
 */
export type SubtaskType = "chain" | "group" | "chord";

export type SignatureOptions = Record<string, unknown>;

export interface SignatureDict {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: SignatureOptions;
  subtask_type: SubtaskType | null;
  immutable: boolean;
  /** Keys Ebb does not know are kept, so a signature passes through unchanged. */
  [extra: string]: unknown;
}

const TYPES = new Set<string | null>([null, "chain", "group", "chord"]);

/** A signature dict from a message (or a caller), checked; throws ProtocolError naming `where` and what is wrong. */
export function toSignature(value: unknown, where: string): SignatureDict {
  if (!isObject(value)) throw new ProtocolError(`${where} is not a Celery signature (a dict with "task"), got ${preview(value)}`);
  const { task, args = [], kwargs = {}, options = {}, subtask_type = null, immutable = false } = value;
  if (typeof task !== "string" || task.length === 0)
    throw new ProtocolError(`${where} has no task name (expected a non-empty string in "task"), got ${preview(value)}`);
  if (!Array.isArray(args)) throw new ProtocolError(`${where} (task "${task}") has args ${preview(args)}; expected a list`);
  if (!isObject(kwargs)) throw new ProtocolError(`${where} (task "${task}") has kwargs ${preview(kwargs)}; expected a dict`);
  if (!isObject(options)) throw new ProtocolError(`${where} (task "${task}") has options ${preview(options)}; expected a dict`);
  if (!TYPES.has(subtask_type as string | null))
    throw new ProtocolError(
      `${where} (task "${task}") has subtask_type ${preview(subtask_type)}; Ebb runs null, "chain", "group" and "chord" (route xmap/xstarmap/chunks to Python workers)`,
    );
  const sig: SignatureDict = {
    ...value,
    task,
    args,
    kwargs,
    options,
    subtask_type: subtask_type as SubtaskType | null,
    immutable: immutable === true,
  };
  if (sig.subtask_type === "chain" || sig.subtask_type === "group") listOf(sig.kwargs.tasks, `${where} (${sig.subtask_type}) kwargs.tasks`);
  if (sig.subtask_type === "chord") {
    headerOf(sig, where);
    toSignature(sig.kwargs.body, `${where} (chord) kwargs.body`);
  }
  return sig;
}

/** Celery's maybe_list: one signature or a list of them → a list (null/absent → []). */
export function listOf(value: unknown, where: string): unknown[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value;
  if (isObject(value)) return [value];
  throw new ProtocolError(`${where} is ${preview(value)}; expected a signature or a list of them`);
}

/** A chord's header tasks: kwargs.header is a list of signatures, or a group signature. */
export function headerOf(chord: SignatureDict, where = "chord"): unknown[] {
  const header = chord.kwargs.header;
  if (isObject(header) && header.subtask_type === "group")
    return listOf((header.kwargs as Record<string, unknown> | undefined)?.tasks, `${where} header`);
  return listOf(header, `${where} kwargs.header`);
}

/**
 * Celery's Signature._merge: the partial args go before the signature's own (not for an
 * immutable one), kwargs merge, options override, except group_id, which a signature keeps once
 * it has one (changing it would stall the chord counting on it).
 */
export function merge(
  sig: SignatureDict,
  args: readonly unknown[],
  kwargs: Record<string, unknown>,
  options: SignatureOptions | undefined,
): { args: unknown[]; kwargs: Record<string, unknown>; options: SignatureOptions } {
  const newOptions =
    options === undefined
      ? sig.options
      : {
          ...sig.options,
          ...Object.fromEntries(Object.entries(options).filter(([k]) => k !== "group_id" || !("group_id" in sig.options))),
        };
  if (sig.immutable) return { args: sig.args, kwargs: sig.kwargs, options: newOptions };
  return {
    args: args.length > 0 ? [...args, ...sig.args] : sig.args,
    kwargs: Object.keys(kwargs).length > 0 ? { ...sig.kwargs, ...kwargs } : sig.kwargs,
    options: newOptions,
  };
}

/** Celery's Signature.clone: a deep copy (so freezing it never changes the original), with partial args merged. */
export function clone(
  sig: SignatureDict,
  args: readonly unknown[] = [],
  kwargs: Record<string, unknown> = {},
  options?: SignatureOptions,
): SignatureDict {
  const m =
    args.length > 0 || Object.keys(kwargs).length > 0 || (options && Object.keys(options).length > 0)
      ? merge(sig, args, kwargs, options ?? {})
      : sig;
  return structuredClone({ ...sig, args: [...m.args], kwargs: m.kwargs, options: m.options });
}

/** Options with null/undefined values dropped, as Celery's apply_async does. */
export function given(options: SignatureOptions): SignatureOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== null && v !== undefined));
}

/** How many results a signature adds to a chord it is in the header of (Celery's _chord._descend). */
export function chordSizeOf(value: unknown): number {
  const sig = toSignature(value, "chord header task");
  if (sig.subtask_type === "group") return listOf(sig.kwargs.tasks, "group").reduce<number>((n, t) => n + chordSizeOf(t), 0);
  if (sig.subtask_type === "chain") {
    for (const step of [...listOf(sig.kwargs.tasks, "chain")].reverse()) {
      const n = chordSizeOf(step);
      if (n > 0) return n;
    }
    return 0;
  }
  if (sig.subtask_type === "chord") return chordSizeOf(sig.kwargs.body);
  return 1;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function preview(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

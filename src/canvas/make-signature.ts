import type { SignatureDict, SignatureOptions } from "./signature.js";

/** Signature dicts built the way Celery's constructors build them, so a Python worker reads them as its own. */
export function taskSignature(
  task: string,
  args: unknown[] = [],
  kwargs: Record<string, unknown> = {},
  options: SignatureOptions = {},
  immutable = false,
): SignatureDict {
  return { task, args, kwargs, options, subtask_type: null, immutable };
}

export function chainOf(tasks: SignatureDict[], options: SignatureOptions = {}): SignatureDict {
  return { task: "celery.chain", args: [], kwargs: { tasks }, options, subtask_type: "chain", immutable: false };
}

export function groupOfTasks(tasks: SignatureDict[], options: SignatureOptions = {}): SignatureDict {
  return { task: "celery.group", args: [], kwargs: { tasks }, options, subtask_type: "group", immutable: false };
}

/** chord(header, body): kwargs {kwargs: {}, header, body}, as celery.canvas._chord.__init__ lays it out. */
export function chordOf(header: SignatureDict, body: SignatureDict, options: SignatureOptions = {}): SignatureDict {
  const members = header.subtask_type === "group" ? header.kwargs.tasks : [header];
  return {
    task: "celery.chord",
    args: [],
    kwargs: { kwargs: {}, header: members, body },
    options,
    subtask_type: "chord",
    immutable: false,
  };
}

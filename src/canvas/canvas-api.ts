import { parseDuration, type DurationInput } from "../duration.js";
import { ConfigError, describe } from "../errors.js";
import type { AsyncResult, GetOptions } from "../result.js";
import type { Applied } from "./apply-signature.js";
import { appendOption } from "./freeze.js";
import { chainOf, chordOf, groupOfTasks, taskSignature } from "./make-signature.js";
import { clone, type SignatureDict, type SignatureOptions } from "./signature.js";

/**
 * Ebb's canvas: signatures made from task handles (`add.s(2)`, `add.si(2, 2)`) or by name
 * (`app.signature("tasks.add", [2, 2])`), combined with chain(), group() and chord(). applyAsync()
 * publishes exactly what Celery's client publishes for the same canvas, so Python workers and Ebb
 * workers run its steps alike. A signature is Celery's dict (toJSON()), so it can also be passed
 * to a Python task as an argument.
 */
export interface CanvasHost {
  apply(sig: SignatureDict, args: unknown[], kwargs: Record<string, unknown>, options: SignatureOptions): Promise<Applied>;
  result<R>(id: string): AsyncResult<R>;
}

/** Options a signature carries to the message it becomes (Celery's names in the JSON). */
export interface SignatureSetOptions {
  /** Queue for this step (Celery's queue option). */
  queue?: string;
  /** 0..9. */
  priority?: number;
  /** Run no earlier than this long after it is sent ("10s"; a number is seconds). */
  countdown?: DurationInput;
  /** Message expiry: a Date, or a duration after it is sent (a number is seconds). */
  expires?: DurationInput | Date;
  /** Its task id, instead of a fresh one. */
  taskId?: string;
  /** Do not store its result. */
  ignoreResult?: boolean;
  /** An immutable signature does not get its parent's result as first argument. */
  immutable?: boolean;
}

export class Signature<R = unknown> {
  readonly #host: CanvasHost;
  readonly #dict: SignatureDict;

  constructor(dict: SignatureDict, host: CanvasHost) {
    this.#dict = dict;
    this.#host = host;
  }

  get name(): string {
    return this.#dict.task;
  }

  /** Celery's signature dict (a deep copy). */
  toJSON(): SignatureDict {
    return structuredClone(this.#dict);
  }

  /** Set options on this signature (Celery's .set()); returns it. */
  set(options: SignatureSetOptions): this {
    const o = this.#dict.options;
    if (options.queue !== undefined) {
      if (typeof options.queue !== "string" || !/^[\w.:@-]+$/.test(options.queue))
        throw new ConfigError(`Expected queue to be a queue name (letters, digits, . : @ - _), got ${describe(options.queue)}`);
      o.queue = options.queue;
    }
    if (options.priority !== undefined) {
      if (!Number.isInteger(options.priority) || options.priority < 0 || options.priority > 9)
        throw new ConfigError(`Expected priority to be an integer 0..9, got ${describe(options.priority)}`);
      o.priority = options.priority;
    }
    if (options.countdown !== undefined)
      o.countdown = parseDuration(options.countdown, { option: "countdown", allowNever: false, numberUnit: "s" })! / 1000;
    if (options.expires !== undefined) {
      if (options.expires instanceof Date) {
        if (!Number.isFinite(options.expires.getTime())) throw new ConfigError("Expected expires to be a valid Date, got an invalid one");
        o.expires = options.expires.toISOString();
      } else o.expires = parseDuration(options.expires, { option: "expires", allowNever: false, numberUnit: "s" })! / 1000;
    }
    if (options.taskId !== undefined) o.task_id = options.taskId;
    if (options.ignoreResult !== undefined) o.ignore_result = options.ignoreResult;
    if (options.immutable !== undefined) this.#dict.immutable = options.immutable;
    return this;
  }

  /** Run `callback` with this one's result when it succeeds (Celery's link). */
  link(callback: Signature): this {
    appendOption(this.#dict, "link", callback.toJSON());
    return this;
  }

  /** Run `errback` with this one's task id when it fails (Celery's link_error / on_error). */
  linkError(errback: Signature): this {
    appendOption(this.#dict, "link_error", errback.toJSON());
    return this;
  }

  /** Send it; `args` go before its own (unless immutable). The result is the task's, a chain's last step's, or a chord body's. */
  async applyAsync(args: unknown[] = [], kwargs: Record<string, unknown> = {}): Promise<AsyncResult<R>> {
    const applied = await this.#host.apply(clone(this.#dict), args, kwargs, {});
    return this.#host.result<R>(applied.id);
  }

  delay(...args: unknown[]): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }

  /** @internal the host, so chain()/group()/chord() can build on the same app. */
  static hostOf(sig: Signature | GroupSignature): CanvasHost {
    return sig instanceof Signature ? sig.#host : GroupSignature.hostOf(sig);
  }
}

/** Results of a group's members, in order. */
export class GroupResult<R = unknown> {
  constructor(
    readonly id: string,
    readonly results: AsyncResult<R>[],
  ) {}

  /** Every member's value, in order; throws the first failure (TaskFailedError, ...). */
  get(options: GetOptions = {}): Promise<R[]> {
    return Promise.all(this.results.map((r) => r.get(options)));
  }
}

export class GroupSignature<R = unknown> {
  readonly #host: CanvasHost;
  readonly #dict: SignatureDict;

  constructor(dict: SignatureDict, host: CanvasHost) {
    this.#dict = dict;
    this.#host = host;
  }

  toJSON(): SignatureDict {
    return structuredClone(this.#dict);
  }

  /** Send every member at once; `args` go before each member's own. */
  async applyAsync(args: unknown[] = []): Promise<GroupResult<R>> {
    const applied = await this.#host.apply(clone(this.#dict), args, {}, {});
    const ids = applied.kind === "group" ? applied.ids : [applied.id];
    return new GroupResult<R>(
      applied.id,
      ids.map((id) => this.#host.result<R>(id)),
    );
  }

  delay(...args: unknown[]): Promise<GroupResult<R>> {
    return this.applyAsync(args);
  }

  /** @internal */
  static hostOf(g: GroupSignature): CanvasHost {
    return g.#host;
  }
}

type Last<T extends readonly unknown[]> = T extends readonly [...unknown[], infer L] ? L : never;
type ResultOf<S> = S extends Signature<infer R> ? R : S extends GroupSignature<infer R> ? R[] : unknown;

/** Steps one after another, each given the previous one's result (Celery's chain). */
export function chain<S extends readonly (Signature<unknown> | GroupSignature<unknown>)[]>(...steps: S): Signature<ResultOf<Last<S>>> {
  if (steps.length === 0) throw new ConfigError("chain() needs at least one signature, got none");
  return new Signature(chainOf(steps.map((s) => checked(s, "chain").toJSON())), Signature.hostOf(steps[0]!));
}

/** Signatures run in parallel (Celery's group). */
export function group<R>(...members: (Signature<R> | Signature<R>[])[]): GroupSignature<R> {
  const flat = members.flat();
  if (flat.length === 0) throw new ConfigError("group() needs at least one signature, got none");
  return new GroupSignature<R>(groupOfTasks(flat.map((s) => checked(s, "group").toJSON())), Signature.hostOf(flat[0]!));
}

/** Run `body` with the list of the header's results once all of them have finished (Celery's chord). */
export function chord<H, B>(header: GroupSignature<H> | Signature<H>[], body: Signature<B>): Signature<B> {
  const g = Array.isArray(header) ? group(...header) : header;
  if (!(g instanceof GroupSignature))
    throw new ConfigError(`chord() takes a group or a list of signatures as header, got ${describe(header)}`);
  return new Signature<B>(chordOf(g.toJSON(), checked(body, "chord").toJSON()), Signature.hostOf(body));
}

export function makeSignature<R>(
  host: CanvasHost,
  task: string,
  args: unknown[],
  options: SignatureSetOptions & { kwargs?: Record<string, unknown> } = {},
): Signature<R> {
  if (typeof task !== "string" || task.length === 0)
    throw new ConfigError(`Expected a task name (non-empty string), got ${describe(task)}`);
  if (!Array.isArray(args)) throw new ConfigError(`Expected the arguments of signature "${task}" to be an array, got ${describe(args)}`);
  const { kwargs, ...set } = options;
  return new Signature<R>(taskSignature(task, [...args], { ...(kwargs ?? {}) }), host).set(set);
}

function checked<T>(s: T, where: string): T & { toJSON(): SignatureDict } {
  if (!(s instanceof Signature) && !(s instanceof GroupSignature))
    throw new ConfigError(`${where}() takes signatures (task.s(...), task.si(...), app.signature(...)), got ${describe(s)}`);
  return s as T & { toJSON(): SignatureDict };
}

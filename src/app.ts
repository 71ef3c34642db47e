import type { Broker } from "./brokers/broker.js";
import { brokerFromUrl } from "./brokers/by-url.js";
import type { ResultBackend } from "./backends/result-backend.js";
import { backendFromUrl } from "./backends/by-url.js";
import { buildCall } from "./call.js";
import { Control } from "./control/control-client.js";
import { resolveConfig, type AppConfig, type ResolvedConfig } from "./config.js";
import { ConfigError, describe, PartialSendError } from "./errors.js";
import { streamLogger, type Logger } from "./logger.js";
import { encodeTaskMessage } from "./protocol/task-message.js";
import { serializeTransportMessage } from "./protocol/transport-message.js";
import { AsyncResult, type ResultSource } from "./result.js";
import { lookupTier } from "./retention/policy.js";
import { cleanupTaskHandlers } from "./retention/cleanup-tasks.js";
import { Beat, type BeatOptions } from "./beat/beat.js";
import { checkEntryTasks } from "./beat/entry.js";
import { inspectScheduled, type ScheduledView } from "./beat/inspect-scheduled.js";
import { isScheduleStoreHost, type ScheduleStore } from "./beat/schedule-store.js";
import { beatHeaders } from "./protocol/beat-headers.js";
import { census } from "./monitor/census.js";
import { retentionApi, type RetentionApi } from "./retention/retention-api.js";
import { fanOut } from "./retention/retention-observer.js";
import { tellCensus, tellSent, type AppObserver } from "./app-observer.js";
import { defineTask, type CallOptions, type TaskDefinition, type TaskHandle, type TaskOptions } from "./task.js";
import { Worker, type WorkerOptions } from "./worker/worker.js";
import { applySignature } from "./canvas/apply-signature.js";
import { makeSignature, type CanvasHost, type Signature, type SignatureSetOptions } from "./canvas/canvas-api.js";

/** Any handler: its parameters become the task's arguments, its (awaited) return value the result. */
// biome-ignore lint/suspicious/noExplicitAny: parameters are contravariant, so unknown[] would refuse every typed handler
type Handler = (...args: any[]) => unknown;

export interface App {
  readonly config: ResolvedConfig;
  /** Registered tasks by name. */
  readonly tasks: ReadonlyMap<string, TaskDefinition>;
  /** Register a task. `.delay()` and `.applyAsync()` are typed from the handler's own signature. */
  task<H extends Handler>(
    name: string,
    handler: H,
    options?: TaskOptions<Awaited<ReturnType<H>>>,
  ): TaskHandle<Parameters<H>, Awaited<ReturnType<H>>>;
  /** Send a task by name, registered here or not (Celery's send_task). */
  sendTask<R = unknown>(name: string, args?: unknown[], options?: CallOptions): Promise<AsyncResult<R>>;
  /**
   * Send many calls of one task: one round trip (Redis) or one transaction (SQLite) per chunk of
   * `chunkSize` (default 1000). `argsList[i]` is the i-th call's arguments; the options apply to
   * every call (a taskId cannot: each call gets its own id). Resolves once every chunk is
   * published, with a handle per call in order. When a chunk fails the error says how many
   * calls went out before it; those are published, the rest are not.
   */
  sendMany<R = unknown>(name: string, argsList: readonly unknown[][], options?: SendManyOptions): Promise<AsyncResult<R>[]>;
  /**
   * A canvas signature by task name, registered here or not (Celery's signature()); combine with
   * chain(), group() and chord(). kwargs are for Celery tasks that take them.
   */
  signature<R = unknown>(
    name: string,
    args?: unknown[],
    options?: SignatureSetOptions & { kwargs?: Record<string, unknown> },
  ): Signature<R>;
  /** A handle on an existing result by id. */
  asyncResult<R = unknown>(id: string): AsyncResult<R>;
  /** A worker for this app's tasks; call start() to consume. */
  worker(options?: WorkerOptions): Promise<Worker>;
  /**
   * Beat for this app's beatSchedule; call start() to run it. Any number may run at once (in
   * `ebb beat`, embedded in `ebb worker`, or here): each tick is claimed in the store. Throws
   * ConfigError when an entry's task is not registered (and has no options.queue).
   */
  beat(options?: BeatOptions): Promise<Beat>;
  /** Where beat keeps its state and cleanup runs: the result backend. */
  scheduleStore(): Promise<ScheduleStore>;
  /** What `ebb inspect beat` shows, read from the store. */
  inspectScheduled(): Promise<ScheduledView>;
  broker(): Promise<Broker>;
  backend(): Promise<ResultBackend>;
  /** Cleanup, stats, growth checks, holds and policy explanations (see README, Retention operations). */
  readonly retention: RetentionApi;
  /** Celery's remote control over the broker: ping, inspect, revoke, shutdown; Ebb and Python workers answer. */
  readonly control: Control;
  /**
   * Be told what this app sends and what its retention operations remove (metrics use it:
   * `attachApp(metrics, app)`). Returns a function that stops telling this observer.
   */
  observe(observer: AppObserver): () => void;
  /** Close the broker and backend connections. */
  close(): Promise<void>;
}

/** sendMany()'s options: a call's options (minus taskId), and the chunk size. */
export type SendManyOptions = Omit<CallOptions, "taskId"> & { chunkSize?: number };

export interface AppDeps {
  log?: Logger;
  env?: NodeJS.ProcessEnv;
}

/** Tasks every app has; an app may register its own under the same name instead. */
const BUILTIN_TASKS = new Set(["celery.backend_cleanup", "ebb.cleanup"]);

export function createApp(config: AppConfig = {}, deps: AppDeps = {}): App {
  const resolved = resolveConfig(config, deps.env);
  const log = deps.log ?? streamLogger();
  const registry = new Map<string, TaskDefinition>();
  let broker: Promise<Broker> | null = null;
  let backend: Promise<ResultBackend> | null = null;
  // An injected clock reaches the stores too (tests); by default each store keeps its own clock.
  const storeOptions = { log, ...(config.clock ? { clock: config.clock } : {}) };
  // A failed first connection is not cached: the next call tries again (the store may be back).
  const getBroker = () =>
    (broker ??= brokerFromUrl(resolved.broker, storeOptions).catch((e: unknown) => {
      broker = null;
      throw e;
    }));
  const getBackend = () =>
    (backend ??= backendFromUrl(resolved.backend, {
      ...storeOptions,
      graceMs: resolved.expiredGraceMs,
      defaultLifetimeMs: resolved.resultExpiresMs,
    }).catch((e: unknown) => {
      backend = null;
      throw e;
    }));
  const control = new Control(getBroker);
  const observers = new Set<AppObserver>();
  const source: ResultSource = {
    backend: getBackend,
    graceMs: resolved.expiredGraceMs,
    defaultTimeoutMs: resolved.resultTimeoutMs,
    revoke: (id, options) => control.revoke(id, options),
  };

  async function send<R>(name: string, args: unknown[], options: CallOptions): Promise<AsyncResult<R>> {
    const { message, publish } = buildCall(name, args, options, registry.get(name), resolved, resolved.clock());
    await (await getBroker()).publish(encodeTaskMessage(message), publish);
    if (observers.size > 0) tellSent(observers, name, publish.queue, 1);
    return new AsyncResult<R>(message.id, source);
  }

  async function sendMany<R>(name: string, argsList: readonly unknown[][], options: SendManyOptions): Promise<AsyncResult<R>[]> {
    const { chunkSize = 1000, ...call } = options;
    if (!Array.isArray(argsList))
      throw new ConfigError(`Expected sendMany()'s argsList for task "${name}" to be an array of argument arrays`);
    if ("taskId" in call)
      throw new ConfigError(`sendMany() cannot take a taskId: each of its calls gets its own id (use sendTask for one call with an id)`);
    if (!Number.isInteger(chunkSize) || chunkSize < 1)
      throw new ConfigError(`Expected sendMany()'s chunkSize to be an integer >= 1, got ${chunkSize}`);
    const def = registry.get(name);
    // Every call is built (and checked) before anything is sent: a bad argument list sends nothing.
    const now = resolved.clock();
    const built = argsList.map((args, i) => {
      if (!Array.isArray(args))
        throw new ConfigError(`Expected argsList[${i}] of sendMany("${name}") to be an array of arguments, got ${describe(args)}`);
      return buildCall(name, args, call, def, resolved, now);
    });
    const b = await getBroker();
    for (let i = 0; i < built.length; i += chunkSize) {
      const chunk = built.slice(i, i + chunkSize);
      try {
        await b.publishMany(chunk.map(({ message, publish }) => ({ message: encodeTaskMessage(message), options: publish })));
      } catch (e) {
        throw new PartialSendError(name, i, built.length, e);
      }
      if (observers.size > 0 && chunk.length > 0) tellSent(observers, name, chunk[0]!.publish.queue, chunk.length);
    }
    return built.map(({ message }) => new AsyncResult<R>(message.id, source));
  }

  const canvas: CanvasHost = {
    async apply(sig, args, kwargs, options) {
      const [b, backend] = [await getBroker(), await getBackend()];
      return applySignature(
        {
          publish: async (m) => {
            await b.publish(encodeTaskMessage(m), { queue: m.queue, priority: m.priority, availableAt: m.eta });
            if (observers.size > 0) tellSent(observers, m.task, m.queue, 1);
          },
          chords: backend.chords ?? null,
          backendUrl: backend.url,
          registry,
          config: resolved,
          now: resolved.clock,
        },
        sig,
        args,
        kwargs,
        options,
      );
    },
    result: (id) => new AsyncResult(id, source),
  };

  const app: App = {
    config: resolved,
    tasks: registry,
    task(name, handler, options) {
      if (registry.has(name) && !BUILTIN_TASKS.has(name))
        throw new ConfigError(`Task "${name}" is already registered; give each task a unique name`);
      const def = defineTask(name, handler, options as TaskOptions<never>);
      if (def.tier !== undefined) lookupTier(def.tier, resolved.tiers);
      registry.set(name, def);
      type A = Parameters<typeof handler>;
      type R = Awaited<ReturnType<typeof handler>>;
      return {
        name,
        delay: (...args: A) => send<R>(name, args, {}),
        applyAsync: (args: A, opts: CallOptions = {}) => send<R>(name, args, opts),
        delayMany: (argsList: readonly A[], opts: SendManyOptions = {}) => sendMany<R>(name, argsList, opts),
        s: (...args: unknown[]) => makeSignature<R>(canvas, name, args),
        si: (...args: A) => makeSignature<R>(canvas, name, args, { immutable: true }),
      };
    },
    sendTask: (name, args = [], options = {}) => send(name, args, options),
    sendMany: (name, argsList, options = {}) => sendMany(name, argsList, options),
    signature: (name, args = [], options = {}) => makeSignature(canvas, name, args, options),
    asyncResult: (id) => new AsyncResult(id, source),
    async worker(options) {
      return new Worker({ broker: await getBroker(), backend: await getBackend(), registry, config: resolved, log }, options);
    },
    async beat(options) {
      checkEntryTasks(resolved.beatSchedule, (task) => registry.has(task));
      const [store, broker] = [await scheduleStore(), await getBroker()];
      return new Beat(
        {
          entries: resolved.beatSchedule,
          store,
          broker,
          log,
          // The storage history counts the result store (the retention store cleanup works on).
          history: resolved.history && {
            ...resolved.history,
            census: async () => tellCensus(observers, await census(await retention.store())),
          },
          message(entry, fire, now) {
            const { message, publish } = buildCall(
              entry.task,
              entry.args,
              { ...entry.options, kwargs: entry.kwargs },
              registry.get(entry.task),
              resolved,
              now,
            );
            message.headers = { ...message.headers, ...beatHeaders(entry.name, fire.tick, fire.catchUp) };
            return {
              taskId: message.id,
              message: {
                raw: serializeTransportMessage(encodeTaskMessage(message)),
                queue: publish.queue,
                priority: publish.priority,
                availableAt: publish.availableAt,
              },
            };
          },
        },
        options,
      );
    },
    scheduleStore,
    async inspectScheduled() {
      return inspectScheduled(resolved.beatSchedule, await scheduleStore(), (id) => new AsyncResult(id, source).state());
    },
    broker: getBroker,
    backend: getBackend,
    control,
    get retention() {
      return retention;
    },
    observe(observer) {
      observers.add(observer);
      return () => {
        observers.delete(observer);
      };
    },
    async close() {
      const pending = [broker, backend];
      broker = backend = null;
      // A store that never connected has nothing to close.
      const opened = await Promise.allSettled(pending);
      await Promise.all(opened.map((o) => (o.status === "fulfilled" ? o.value?.close() : undefined)));
    },
  };
  // Retention operations tell the app's observers (metrics) what they remove.
  const retentionObserver = fanOut(() => observers);
  const retention = retentionApi(getBackend, app, retentionObserver);
  async function scheduleStore(): Promise<ScheduleStore> {
    const b = await getBackend();
    if (!isScheduleStoreHost(b))
      throw new ConfigError(
        `The result backend ${b.url} cannot hold beat's schedule state; give the app an Ebb store as backend (sqlite://, redis://, memory://)`,
      );
    return b.scheduleStore();
  }
  // Celery's built-in cleanup task, by its name, so beat schedules and `ebb call` reach it, and
  // ebb.cleanup for tiered schedules. Both archive expired archive-tier results first.
  const cleanupTasks = cleanupTaskHandlers({
    store: retention.store,
    schedules: () => scheduleStore().catch(() => null),
    archiveDir: resolved.archiveDir,
    tiers: () => Object.keys(resolved.tiers),
    log,
    observer: retentionObserver,
  });
  for (const [name, handler] of Object.entries(cleanupTasks)) registry.set(name, defineTask(name, handler, { ignoreResult: false }));
  return app;
}

import { ChangeHub, type Watch } from "../../change-hub.js";
import { systemClock, type Clock } from "../../clock.js";
import { isReady } from "../../states.js";
import { classifyRead } from "../../retention/expiry.js";
import { redactUrl } from "../../url.js";
import type { BackendCapabilities, Lookup, LookupOptions, ResultBackend, StoreOutcome, StoreRequest, StoredResult } from "../result-backend.js";

export interface MemoryBackendOptions {
  url?: string;
  clock?: Clock;
}

/**
 * An in-process result backend for tests and single-process apps. It keeps results as JSON
 * text, like the stored backends do, so values round-trip exactly as they would through
 * SQLite or Redis (and a caller mutating an object after store() changes nothing).
 */
export class MemoryBackend implements ResultBackend {
  readonly capabilities: BackendCapabilities = { nativeExpiry: false, pushNotify: true };
  readonly url: string;
  private readonly clock: Clock;
  private readonly records = new Map<string, string>();
  /** Ids whose results were cleaned after expiry → the instant they expired. */
  private readonly tombstones = new Map<string, number>();
  private readonly hub = new ChangeHub();

  constructor(opts: MemoryBackendOptions = {}) {
    this.url = redactUrl(opts.url ?? "memory://");
    this.clock = opts.clock ?? systemClock;
  }

  async now(): Promise<number> {
    return this.clock();
  }

  async store(request: StoreRequest): Promise<StoreOutcome> {
    const existing = this.read(request.taskId);
    if (existing && isReady(existing.status)) return { stored: false, result: existing };
    const now = this.clock();
    const dateDone = isReady(request.status) ? now : null;
    const result: StoredResult = {
      taskId: request.taskId,
      status: request.status,
      result: request.result ?? null,
      traceback: request.traceback,
      children: request.children ?? [],
      dateDone,
      expiresAt: request.lifetimeMs === null ? null : (dateDone ?? now) + request.lifetimeMs,
      tier: request.tier,
      action: request.action,
      // A hold belongs to the task id, not to one write of it.
      held: existing?.held ?? false,
      name: request.name ?? null,
      args: request.args ?? null,
      kwargs: request.kwargs ?? null,
      worker: request.worker ?? null,
      retries: request.retries ?? null,
      queue: request.queue ?? null,
    };
    this.write(result);
    this.tombstones.delete(request.taskId);
    this.notify(request.taskId);
    return { stored: true, result: this.read(request.taskId)! };
  }

  async lookup(taskId: string, options: LookupOptions): Promise<Lookup> {
    return classifyRead(taskId, this.read(taskId), this.tombstones.get(taskId), this.clock(), options.graceMs);
  }

  async forget(taskId: string): Promise<boolean> {
    const removed = this.records.delete(taskId);
    const hadTombstone = this.tombstones.delete(taskId);
    if (removed || hadTombstone) this.notify(taskId);
    return removed || hadTombstone;
  }

  async watch(taskId: string): Promise<Watch> {
    return this.hub.watch(taskId);
  }

  /** Put a legal hold on a stored result, or release it. False when there is no such result. */
  async setHeld(taskId: string, held: boolean): Promise<boolean> {
    const result = this.read(taskId);
    if (!result) return false;
    this.write({ ...result, held });
    this.notify(taskId);
    return true;
  }

  /** Ends pending waits; the results stay (brokerFromUrl/backendFromUrl share one instance per URL). */
  async close(): Promise<void> {
    this.hub.notifyAll();
  }

  private read(taskId: string): StoredResult | undefined {
    const text = this.records.get(taskId);
    return text === undefined ? undefined : (JSON.parse(text) as StoredResult);
  }

  private write(result: StoredResult): void {
    this.records.set(result.taskId, JSON.stringify(result));
  }

  private notify(taskId: string): void {
    this.hub.notify(taskId);
  }
}

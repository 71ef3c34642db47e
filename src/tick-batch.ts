/**
 * Calls made together, sent as one. A worker's concurrent tasks finish together (their fetch
 * came back together), and each stores a result and acks a message: one statement or script
 * call for all of them costs the store and the client much less than one per task.
 *
 * add() queues an item and resolves with its own answer once the batch it joined has run.
 * Batches run one after another, never two at once, so their order on the server is the order
 * of add(). While the store is idle, a batch starts at the next setImmediate (what this turn of
 * the event loop added), or at once when it reaches maxItems. While a batch is in flight, items
 * wait for it and the next batch takes all of them (up to maxItems): a slow store gets fewer,
 * larger batches rather than a queue of small ones.
 *
 * `run` answers every item of a batch, in order, or throws; then every item of that batch fails
 * with that error (nothing is retried here: the callers already handle a failed store or ack).
 * An answer that is an ItemFailure fails its item alone.
 */
export interface TickBatchOptions<In> {
  /** Items per batch at most (default 100). */
  maxItems?: number;
  /** Items with the same key never share a batch: a later one waits for the next (in order). */
  key?: (item: In) => string;
}

/** An answer from `run` that fails one item with `error`, the others going on. */
export class ItemFailure {
  constructor(readonly error: unknown) {}
}

interface Entry<In, Out> {
  item: In;
  resolve: (out: Out) => void;
  reject: (e: unknown) => void;
}

export class TickBatch<In, Out> {
  #queued: Entry<In, Out>[] = [];
  #scheduled = false;
  /** The loop running batches, while there is one. */
  #running: Promise<void> | null = null;
  readonly #maxItems: number;
  readonly #key: ((item: In) => string) | undefined;

  constructor(
    private readonly run: (items: In[]) => Promise<Array<Out | ItemFailure>>,
    options: number | TickBatchOptions<In> = {},
  ) {
    const o = typeof options === "number" ? { maxItems: options } : options;
    this.#maxItems = o.maxItems ?? 100;
    this.#key = o.key;
  }

  add(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#queued.push({ item, resolve, reject });
      if (this.#running) return; // taken by the loop once the batch in flight is done
      if (this.#queued.length >= this.#maxItems) this.#start();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          if (!this.#running && this.#queued.length > 0) this.#start();
        });
      }
    });
  }

  /** Resolves once every item added so far has been answered (close() waits for it). */
  async drain(): Promise<void> {
    if (!this.#running && this.#queued.length > 0) this.#start();
    while (this.#running) await this.#running;
  }

  #start(): void {
    this.#running = this.#loop();
  }

  async #loop(): Promise<void> {
    // Called with items queued, so it awaits at least once before it can end: #running is set
    // by then, and it is cleared in the same turn as the last look at the queue.
    while (this.#queued.length > 0) await this.#runBatch(this.#take());
    this.#running = null;
  }

  /** The next batch: up to maxItems in order, passing over items whose key is already in it. */
  #take(): Entry<In, Out>[] {
    const key = this.#key;
    if (!key) return this.#queued.splice(0, this.#maxItems);
    const batch: Entry<In, Out>[] = [];
    const rest: Entry<In, Out>[] = [];
    const seen = new Set<string>();
    for (const entry of this.#queued) {
      const k = key(entry.item);
      if (batch.length < this.#maxItems && !seen.has(k)) {
        seen.add(k);
        batch.push(entry);
      } else rest.push(entry);
    }
    this.#queued = rest;
    return batch;
  }

  async #runBatch(batch: Entry<In, Out>[]): Promise<void> {
    try {
      const outs = await this.run(batch.map((b) => b.item));
      for (let i = 0; i < batch.length; i++) {
        const out = outs[i];
        if (out instanceof ItemFailure) batch[i]!.reject(out.error);
        else batch[i]!.resolve(out as Out);
      }
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }
}

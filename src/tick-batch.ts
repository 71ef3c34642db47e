/**
 * Calls made in the same turn of the event loop, sent as one. A worker's concurrent tasks finish
 * together (their fetch came back together), and each stores a result and acks a message: one
 * script call for all of them costs Redis and the client much less than one per task. add()
 * queues an item and resolves with its own answer once the batch it joined has run; a batch runs
 * at the next setImmediate, or at once when it reaches maxItems. Batches run one after another,
 * never two at once, so their order on the server is the order of add().
 *
 * `run` answers every item of a batch, in order, or throws, and then every item of that batch
 * fails with that error (nothing is retried here: the callers already handle a failed store or ack).
 */
export class TickBatch<In, Out> {
  #queued: { item: In; resolve: (out: Out) => void; reject: (e: unknown) => void }[] = [];
  #scheduled = false;
  #tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly run: (items: In[]) => Promise<Out[]>,
    private readonly maxItems = 100,
  ) {}

  add(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#queued.push({ item, resolve, reject });
      if (this.#queued.length >= this.maxItems) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Resolves once every batch queued so far has run (close() waits for it). */
  async drain(): Promise<void> {
    if (this.#queued.length > 0) this.#flush();
    await this.#tail;
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queued;
    if (batch.length === 0) return;
    this.#queued = [];
    this.#tail = this.#tail.then(async () => {
      try {
        const outs = await this.run(batch.map((b) => b.item));
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(outs[i]!);
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
    });
  }
}

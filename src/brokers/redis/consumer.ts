import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { Move, Registration } from "./blocking-move.js";
import { requeueOf } from "./envelope.js";
import { toScore, type RedisKeys } from "./keys.js";
import { SCRIPTS } from "./scripts.js";

/**
 * A consumer silent this long (no blocking wait started; a waiting one starts one at least every
 * second) is gone, and its hand-off lists go back. Putting back the list of one that is only
 * slow is harmless: the fetch script finds its hand-off list empty, and the message is served
 * from its queue again.
 */
export const CONSUMER_TIMEOUT_MS = 30_000;
/** Gone consumers looked at per sweep. */
const SWEEP_PAGE = 20;

/**
 * One broker's identity as a consumer (see blocking-move.ts): a random id, its hand-off lists
 * (ebb.inflight.<id>.<list>), and putting them back, itself on close or by the sweep of any
 * other broker once it is gone.
 */
export class Consumer {
  readonly id = randomBytes(8).toString("hex");
  readonly registration: Registration;

  constructor(
    private readonly client: Redis,
    private readonly keys: RedisKeys,
  ) {
    this.registration = { consumers: keys.consumers, lists: keys.consumerLists(this.id), id: this.id };
  }

  /** The blocking moves of a wait on these lists. */
  moves(lists: readonly string[]): Move[] {
    return lists.map((from) => ({ from, to: this.keys.inflight(this.id, from) }));
  }

  /** One message moved after its fetch left goes back to its list's serving end. */
  async putBack(move: Move): Promise<boolean> {
    return (await SCRIPTS.putBack.run(this.client, [move.to, move.from], [])) === 1;
  }

  /** Everything in these hand-off lists goes back (a fetch aborted after its wait moved a message). */
  async putBackAll(moves: readonly Move[]): Promise<void> {
    for (const move of moves) while (await this.putBack(move));
  }

  /** On close: hand-off lists back as they are (never delivered), and the registration removed. */
  async leave(): Promise<void> {
    await putBackConsumer(this.client, this.keys, this.id, "", false, "");
  }

  /**
   * The restore cycle's sweep: put back the hand-off lists of consumers silent for
   * CONSUMER_TIMEOUT_MS, flagged redelivered as kombu flags what it restores, and forget them once
   * nothing is left, so registrations of dead processes do not pile up ahead of newer ones in the
   * page. Safe for a consumer that was only slow: it registers again before every wait, and its
   * server-side waits end within a second. Returns how many messages went back.
   */
  async sweep(nowMs: number): Promise<number> {
    const ceiling = toScore(nowMs - CONSUMER_TIMEOUT_MS);
    const flat = await this.client.zrangebyscore(this.keys.consumers, "-inf", ceiling, "WITHSCORES", "LIMIT", 0, SWEEP_PAGE);
    let moved = 0;
    for (let i = 0; i < flat.length; i += 2) {
      const id = flat[i]!;
      if (id === this.id) continue;
      moved += await putBackConsumer(this.client, this.keys, id, ceiling, true, ceiling);
    }
    return moved;
  }
}

/**
 * Put back consumer `id`'s hand-off lists, each in one sweep script call that re-checks the
 * consumer is still gone (ceiling; "" = no check) and the list unchanged; then, when all are
 * empty and `forgetCeiling` is not null, drop its registration. Returns messages put back.
 */
async function putBackConsumer(
  client: Redis,
  keys: RedisKeys,
  id: string,
  ceiling: string,
  flag: boolean,
  forgetCeiling: string | null,
): Promise<number> {
  const lists = await client.smembers(keys.consumerLists(id));
  let moved = 0;
  let empty = true;
  for (const list of lists) {
    const inflight = keys.inflight(id, list);
    const entries = await client.lrange(inflight, 0, -1);
    if (entries.length === 0) continue;
    const back = entries.map((raw) => (flag ? requeueOf(raw) : { payload: raw, mark: false }));
    const args = [id, ceiling, entries.length, ...entries, ...back.map((b) => b.payload), ...back.map((b) => (b.mark ? "1" : "0"))];
    if ((await SCRIPTS.sweep.run(client, [keys.consumers, keys.redelivered, inflight, list], args)) === 1) moved += entries.length;
    else empty = false;
  }
  if (empty && forgetCeiling !== null) {
    const inflights = lists.map((l) => keys.inflight(id, l));
    await SCRIPTS.forgetConsumer.run(client, [keys.consumers, keys.consumerLists(id), ...inflights], [id, forgetCeiling, lists.length]);
  }
  return moved;
}

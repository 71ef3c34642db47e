import { randomUUID } from "node:crypto";
import type { BrokerControl, ControlCommand, ControlListener, OnRequest } from "../../control/broker-control.js";
import { ticketed, type ControlReply } from "../../control/control-request.js";

/**
 * Remote control within one process (the memory broker's): every listener gets each request,
 * as JSON would carry it. A sender waiting for replies stops at its timeout, at its limit, or
 * once every listener has answered (in one process that is known, so tests do not wait out the
 * timeout as a Redis client must).
 */
export class MemoryControl implements BrokerControl {
  readonly delivery = "live" as const;
  readonly #listeners = new Set<OnRequest>();

  async listen(onRequest: OnRequest): Promise<ControlListener> {
    // One entry per listen(), even for the same function.
    const entry: OnRequest = (r) => onRequest(r);
    this.#listeners.add(entry);
    return {
      close: async () => {
        this.#listeners.delete(entry);
      },
    };
  }

  async send(command: ControlCommand, collect: { timeoutMs: number; limit: number | null } | null): Promise<ControlReply[]> {
    const ticket = collect ? randomUUID() : null;
    const request = ticketed(wire(command), ticket);
    const answers = [...this.#listeners].map((l) => l(wire(request)).catch(() => null));
    if (!collect) return [];
    return new Promise((resolve) => {
      const replies: ControlReply[] = [];
      let settled = 0;
      const finish = () => {
        clearTimeout(timer);
        resolve(replies.slice());
      };
      const timer = setTimeout(finish, collect.timeoutMs);
      if (answers.length === 0) return;
      for (const a of answers) {
        void a.then((reply) => {
          settled += 1;
          if (reply) replies.push(wire(reply));
          if ((collect.limit !== null && replies.length >= collect.limit) || settled === answers.length) finish();
        });
      }
    });
  }
}

/** What a JSON wire would make of it: no shared objects between sender and listeners. */
function wire<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

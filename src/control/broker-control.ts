import type { ControlReply, ControlRequest } from "./control-request.js";

/**
 * A broker's transport for Celery's remote control (broker.control, optional): how requests
 * reach every worker and replies come back. Store words (channels, lists, tables) stay in the
 * broker's folder; which node a request is for and what it answers live in src/control.
 */
export interface BrokerControl {
  /**
   * Whether a request reaches only the workers listening when it is sent (Redis pub/sub, as
   * Celery's pidbox), or is kept so that a worker starting later still learns of the revokes
   * of the last REVOKED_EXPIRES_MS ("kept").
   */
  readonly delivery: "live" | "kept";
  /**
   * Hand every request to onRequest. When the request asks for a reply (ticket and replyTo) and
   * onRequest returns one, send it back to the sender. Resolves once listening has begun.
   */
  listen(onRequest: OnRequest): Promise<ControlListener>;
  /**
   * Send a request to every listener. With `collect`, wait for replies (it fills in ticket and
   * replyTo) for up to timeoutMs, or until `limit` have come; without, resolve once sent ([]).
   */
  send(request: ControlCommand, collect: { timeoutMs: number; limit: number | null } | null): Promise<ControlReply[]>;
}

/** What a listener does with a request: its reply, or null for none. */
export type OnRequest = (request: ControlRequest) => Promise<ControlReply | null>;

/** A request before the transport gives it a ticket and a reply address. */
export type ControlCommand = Omit<ControlRequest, "ticket" | "replyTo">;

export interface ControlListener {
  close(): Promise<void>;
}

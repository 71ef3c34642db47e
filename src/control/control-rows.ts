import type { Logger } from "../logger.js";
import { parseRequestBody, type ControlReply, type ControlRequest } from "./control-request.js";

/** Requests read per look: bounded, so a backlog is taken in steps. */
export const READ_BATCH = 100;
/** Old rows deleted per send: bounded, so the write stays short. */
export const PRUNE_BATCH = 100;
/** A reply nobody collected (its sender gave up) is deleted this long after it was written. */
export const REPLY_KEEP_MS = 600_000;
/** The component name the listeners' poll failures are logged under. */
export const LISTENER = "Remote control listener";

/**
 * Remote control kept as rows (the SQLite and PostgreSQL brokers' ebb_control_requests and
 * ebb_control_replies): a row's body read back. A body that does not read is logged, naming its
 * table, and skipped (null): one bad row never stops a worker's control loop.
 */
export function readRequestRow(body: string, log: Logger | undefined): ControlRequest | null {
  try {
    return parseRequestBody(JSON.parse(body));
  } catch (e) {
    log?.warn(`Ignoring a remote control request in ebb_control_requests that does not read: ${(e as Error).message}`);
    return null;
  }
}

export function readReplyRow(body: string, log: Logger | undefined): ControlReply | null {
  try {
    const reply = JSON.parse(body) as unknown;
    if (typeof reply === "object" && reply !== null && !Array.isArray(reply)) return reply as ControlReply;
    throw new Error(`not an object: ${body.slice(0, 80)}`);
  } catch (e) {
    log?.warn(`Ignoring a remote control reply in ebb_control_replies that does not read: ${(e as Error).message}`);
    return null;
  }
}

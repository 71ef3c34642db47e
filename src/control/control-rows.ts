import type { Logger } from "../logger.js";
import { parseRequestBody, type ControlReply, type ControlRequest } from "./control-request.js";

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

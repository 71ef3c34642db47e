import { ProtocolError } from "../errors.js";

/**
 * Celery's remote control, the broker-independent part: a request as kombu's Mailbox sends it
 * (kombu/pidbox.py, Mailbox._publish) and which node it is for (Node.handle_message).
 *
 *   {"method": "ping", "arguments": {}, "destination": null | ["celery@host", ...],
 *    "pattern": null, "matcher": null, "ticket": "<uuid>",
 *    "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "<client oid>"}}
 *
 * ticket and reply_to are present only when the sender waits for replies. A reply is
 * {hostname: value}; a sender collects them until its timeout or until it has `limit` of them.
 */
export interface ControlRequest {
  method: string;
  arguments: Record<string, unknown>;
  /** Node names the request is for; null = every node. */
  destination: string[] | null;
  /** With matcher: node names matching this pattern. */
  pattern: string | null;
  /** "glob" (fnmatch) or "pcre" (a regular expression matched at the start), as kombu.matcher. */
  matcher: string | null;
  ticket: string | null;
  replyTo: { exchange: string; routingKey: string } | null;
}

/** What one node answered: {hostname: value}. */
export type ControlReply = Record<string, unknown>;

/** The exchange Celery's mailbox sends replies through (kombu's reply.celery.pidbox). */
export const REPLY_EXCHANGE = "reply.celery.pidbox";

/** A command as sent: with a ticket, replies are asked for and come back under it; without, none are. */
export function ticketed(command: Omit<ControlRequest, "ticket" | "replyTo">, ticket: string | null): ControlRequest {
  return { ...command, ticket, replyTo: ticket ? { exchange: REPLY_EXCHANGE, routingKey: ticket } : null };
}

/** The request as kombu writes it on the wire (its JSON body). */
export function requestBody(r: ControlRequest): Record<string, unknown> {
  return {
    method: r.method,
    arguments: r.arguments,
    destination: r.destination,
    pattern: r.pattern,
    matcher: r.matcher,
    ...(r.ticket !== null ? { ticket: r.ticket } : {}),
    ...(r.replyTo !== null ? { reply_to: { exchange: r.replyTo.exchange, routing_key: r.replyTo.routingKey } } : {}),
  };
}

/** A decoded JSON body → ControlRequest; throws ProtocolError naming what is missing. */
export function parseRequestBody(body: unknown): ControlRequest {
  if (!isObject(body) || typeof body.method !== "string")
    throw new ProtocolError(
      `A remote control request must be a JSON object with a string "method", got ${JSON.stringify(body)?.slice(0, 80)}`,
    );
  const args = isObject(body.arguments) ? body.arguments : {};
  const destination = Array.isArray(body.destination) ? body.destination.filter((d): d is string => typeof d === "string") : null;
  const replyTo = isObject(body.reply_to) ? body.reply_to : null;
  return {
    method: body.method,
    arguments: args,
    destination: destination && destination.length > 0 ? destination : null,
    pattern: typeof body.pattern === "string" ? body.pattern : null,
    matcher: typeof body.matcher === "string" ? body.matcher : null,
    ticket: typeof body.ticket === "string" ? body.ticket : null,
    replyTo:
      replyTo && typeof replyTo.exchange === "string" && typeof replyTo.routing_key === "string"
        ? { exchange: replyTo.exchange, routingKey: replyTo.routing_key }
        : null,
  };
}

/** Whether node `hostname` should handle the request (kombu Node.handle_message). */
export function isAddressedTo(r: ControlRequest, hostname: string): boolean {
  if (r.destination) return r.destination.includes(hostname);
  if (r.pattern && r.matcher) return matches(hostname, r.pattern, r.matcher);
  return true;
}

function matches(hostname: string, pattern: string, matcher: string): boolean {
  if (matcher === "pcre") {
    try {
      // Python's re.match: anchored at the start only.
      return new RegExp(`^(?:${pattern})`).test(hostname);
    } catch {
      return false;
    }
  }
  if (matcher === "glob") return globToRegExp(pattern).test(hostname);
  return false;
}

/** fnmatch: * any run, ? one character, [seq] / [!seq] a class; the rest literal. */
function globToRegExp(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") out += ".*";
    else if (c === "?") out += ".";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end === -1) out += "\\[";
      else {
        let cls = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (cls.startsWith("!")) cls = `^${cls.slice(1)}`;
        out += `[${cls}]`;
        i = end;
      }
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${out}$`, "s");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Small TransportMessages for broker tests: each carries a text body, so a test can say which
 * message it got by reading the body back.
 */
import type { Delivery } from "../../src/brokers/broker.js";
import type { TransportMessage } from "../../src/protocol/transport-message.js";

/** A message whose body is `text` (UTF-8), with a header naming it too. */
export function textMessage(text: string, headers: Record<string, unknown> = {}): TransportMessage {
  return {
    headers: { id: text, ...headers },
    properties: { priority: 0 },
    body: Buffer.from(text, "utf8"),
    contentType: "text/plain",
    contentEncoding: "utf-8",
  };
}

/** The body of a framed delivery as text; an unframed one reads "<unframed: reason>" so a mismatch says why. */
export function bodyOf(d: Delivery): string {
  return d.message ? d.message.body.toString("utf8") : `<unframed: ${d.reason}>`;
}

export const bodies = (ds: readonly Delivery[]): string[] => ds.map(bodyOf);

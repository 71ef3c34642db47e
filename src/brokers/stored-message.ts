import { parseKombuEnvelope } from "./redis/kombu-envelope.js";
import { parseCeleryJson } from "../protocol/celery-json.js";
import { parseTransportMessage, type TransportMessage } from "../protocol/transport-message.js";

/**
 * A message a store kept as text (the SQLite broker's rows, beat's outbox) read back. Ebb 0.3
 * writes serializeTransportMessage()'s JSON; Ebb 0.2 wrote kombu's envelope there, so rows
 * queued before an upgrade still run rather than being dead-lettered. Throws ProtocolError
 * (from the new format's reader) when the text is neither.
 */
export function parseStoredMessage(text: string): TransportMessage {
  if (!isKombuEnvelope(text)) return parseTransportMessage(text);
  return parseKombuEnvelope(text);
}

/** Ebb 0.2's rows start as kombu's envelope does: {"body": ..., with "content-type" and no "contentType". */
function isKombuEnvelope(text: string): boolean {
  if (!text.startsWith('{"body"')) return false;
  try {
    const parsed = parseCeleryJson(text) as Record<string, unknown>;
    return typeof parsed.body === "string" && "content-type" in parsed && !("contentType" in parsed);
  } catch {
    return false;
  }
}

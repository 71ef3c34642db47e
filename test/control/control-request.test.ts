import { describe, expect, it } from "vitest";
import { isAddressedTo, parseRequestBody, requestBody } from "../../src/control/control-request.js";

describe("a remote control request", () => {
  const base = { method: "ping", arguments: {}, destination: null, pattern: null, matcher: null, ticket: null, replyTo: null };

  it("reads kombu's wire body and writes it back", () => {
    const wire = {
      method: "revoke",
      arguments: { task_id: "a" },
      destination: ["celery@x"],
      pattern: null,
      matcher: null,
      ticket: "t",
      reply_to: { exchange: "reply.celery.pidbox", routing_key: "oid" },
    };
    const r = parseRequestBody(wire);
    expect(r).toEqual({
      ...base,
      method: "revoke",
      arguments: { task_id: "a" },
      destination: ["celery@x"],
      ticket: "t",
      replyTo: { exchange: "reply.celery.pidbox", routingKey: "oid" },
    });
    expect(requestBody(r)).toEqual(wire);
    expect(() => parseRequestBody({ arguments: {} })).toThrow(/string "method"/);
  });

  it("is for every node, the destinations named, or the nodes its glob / pcre pattern matches", () => {
    expect(isAddressedTo(base, "ebb-1@h")).toBe(true);
    expect(isAddressedTo({ ...base, destination: ["celery@h"] }, "ebb-1@h")).toBe(false);
    expect(isAddressedTo({ ...base, destination: ["celery@h", "ebb-1@h"] }, "ebb-1@h")).toBe(true);
    expect(isAddressedTo({ ...base, pattern: "ebb-*@h", matcher: "glob" }, "ebb-1@h")).toBe(true);
    expect(isAddressedTo({ ...base, pattern: "ebb-?@h", matcher: "glob" }, "ebb-12@h")).toBe(false);
    expect(isAddressedTo({ ...base, pattern: "ebb-[!2]@h", matcher: "glob" }, "ebb-1@h")).toBe(true);
    expect(isAddressedTo({ ...base, pattern: "ebb-\\d+", matcher: "pcre" }, "ebb-12@h")).toBe(true);
    expect(isAddressedTo({ ...base, pattern: "\\d", matcher: "pcre" }, "ebb-12@h")).toBe(false);
    expect(isAddressedTo({ ...base, pattern: "(", matcher: "pcre" }, "ebb-12@h")).toBe(false);
  });
});

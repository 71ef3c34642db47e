/**
 * Messages queued by Ebb 0.2, whose SQLite rows hold kombu's envelope text, still run after an
 * upgrade: the broker reads both its own stored form and the old one, and dead-letters only
 * text that is neither (kept byte for byte).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteBroker } from "../../src/brokers/sqlite/sqlite-broker.js";
import { frameKombuEnvelope } from "../../src/brokers/redis/kombu-envelope.js";
import { decodeTaskMessage, encodeTaskMessage, makeTaskMessage } from "../../src/protocol/task-message.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function freshUrl(): { url: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "ebb-upgrade-"));
  dirs.push(dir);
  const file = join(dir, "ebb.db");
  return { url: `sqlite://${file}`, file };
}

function insertRow(file: string, body: string): void {
  const db = new Database(file);
  try {
    db.prepare("INSERT INTO ebb_messages (queue, priority, body, available_at, created_at) VALUES (?, ?, ?, ?, ?)").run(
      "celery",
      0,
      body,
      0,
      0,
    );
  } finally {
    db.close();
  }
}

describe("sqlite broker: rows written by Ebb 0.2", () => {
  it("a kombu-envelope row is handed out as the message it holds", async () => {
    const { url, file } = freshUrl();
    const broker = new SqliteBroker({ url });
    try {
      const sent = makeTaskMessage({ task: "add", args: [2, 3], kwargs: { k: "v" } });
      insertRow(file, frameKombuEnvelope(encodeTaskMessage(sent), "celery", 0));
      const [d] = await broker.fetch(["celery"], 1, { visibilityTimeoutMs: 60_000, waitMs: 0 });
      expect(d?.message).not.toBeNull();
      const got = decodeTaskMessage(d!.message!, "celery");
      expect(got).toMatchObject({ id: sent.id, task: "add", args: [2, 3], kwargs: { k: "v" } });
    } finally {
      await broker.close();
    }
  });

  it("text that is neither form is handed out unframed with the reason, and dead-lettered byte for byte", async () => {
    const { url, file } = freshUrl();
    const broker = new SqliteBroker({ url });
    try {
      const junk = '{"body": 1, "nothing": "here"}';
      insertRow(file, junk);
      const [d] = await broker.fetch(["celery"], 1, { visibilityTimeoutMs: 60_000, waitMs: 0 });
      expect(d?.message).toBeNull();
      await broker.deadLetter(d!, "unframed");
      const page = await broker.deadLetters({ limit: 10 });
      expect(page.items.map((x) => x.raw.toString("utf8"))).toEqual([junk]);
    } finally {
      await broker.close();
    }
  });
});

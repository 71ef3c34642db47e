import { parseCeleryJson, stringifyCeleryJson } from "../../protocol/celery-json.js";
import type Database from "better-sqlite3";
import type { Clock } from "../../clock.js";
import type { StoredState } from "../../states.js";
import type { ChordCountOptions, ChordPart, ChordStore } from "../chord-store.js";

interface PartRow {
  task_id: string;
  state: StoredState;
  result: string;
  group_index: number | null;
}

/**
 * Chord counting in ebb_chords / ebb_chord_parts (migration 0009_chords). Each call is one
 * BEGIN IMMEDIATE transaction, so two processes finishing the last two parts at once see the
 * count one after the other, and exactly one of them gets the parts back.
 */
export class SqliteChords implements ChordStore {
  private readonly sql: ReturnType<typeof prepare>;
  private readonly partReturned: (groupId: string, part: ChordPart, options: ChordCountOptions) => ChordPart[] | null;
  private readonly sizeSet: (groupId: string, size: number, options: ChordCountOptions) => void;

  constructor(db: Database.Database, clock: Clock) {
    const sql = prepare(db);
    this.sql = sql;
    const touch = (groupId: string, size: number | null, options: ChordCountOptions) => {
      const now = clock();
      sql.dropExpiredParts.run(now);
      sql.dropExpiredGroups.run(now);
      sql.touch.run({ group_id: groupId, size, expires_at: options.expiresMs === null ? null : now + options.expiresMs });
    };
    this.sizeSet = db.transaction((groupId: string, size: number, options: ChordCountOptions) => touch(groupId, size, options)).immediate;
    this.partReturned = db.transaction((groupId: string, part: ChordPart, options: ChordCountOptions): ChordPart[] | null => {
      touch(groupId, null, options);
      sql.addPart.run(groupId, part.taskId, part.state, stringifyCeleryJson(part.result ?? null), part.groupIndex);
      const { size } = sql.size.get(groupId) ?? { size: null };
      const { n } = sql.count.get(groupId)!;
      if (size === null || n !== size) return null;
      return sql.parts
        .all(groupId)
        .map((r) => ({ taskId: r.task_id, state: r.state, result: parseCeleryJson(r.result), groupIndex: r.group_index }));
    }).immediate;
  }

  async setChordSize(groupId: string, size: number, options: ChordCountOptions): Promise<void> {
    this.sizeSet(groupId, size, options);
  }

  async chordPartReturned(groupId: string, part: ChordPart, options: ChordCountOptions): Promise<ChordPart[] | null> {
    return this.partReturned(groupId, part, options);
  }

  async chordCompleted(groupId: string): Promise<void> {
    this.sql.dropParts.run(groupId);
    this.sql.dropGroup.run(groupId);
  }
}

const EXPIRED_GROUPS = "SELECT group_id FROM ebb_chords WHERE expires_at <= ? ORDER BY expires_at, group_id LIMIT 100";

function prepare(db: Database.Database) {
  return {
    // A part may finish before the client has set the size (it sets it just before sending the last part).
    touch: db.prepare<[{ group_id: string; size: number | null; expires_at: number | null }]>(
      `INSERT INTO ebb_chords (group_id, size, expires_at) VALUES (@group_id, @size, @expires_at)
       ON CONFLICT(group_id) DO UPDATE SET size = COALESCE(excluded.size, ebb_chords.size), expires_at = excluded.expires_at`,
    ),
    addPart: db.prepare<[string, string, string, string, number | null]>(
      `INSERT OR IGNORE INTO ebb_chord_parts (group_id, task_id, state, result, group_index) VALUES (?, ?, ?, ?, ?)`,
    ),
    size: db.prepare<[string], { size: number | null }>(`SELECT size FROM ebb_chords WHERE group_id = ?`),
    count: db.prepare<[string], { n: number }>(`SELECT COUNT(*) AS n FROM ebb_chord_parts WHERE group_id = ?`),
    parts: db.prepare<[string], PartRow>(
      `SELECT task_id, state, result, group_index FROM ebb_chord_parts WHERE group_id = ?
       ORDER BY group_index IS NULL, group_index, rowid`,
    ),
    dropParts: db.prepare<[string]>(`DELETE FROM ebb_chord_parts WHERE group_id = ?`),
    dropGroup: db.prepare<[string]>(`DELETE FROM ebb_chords WHERE group_id = ?`),
    // Bounded: abandoned chords (a header part that never ran) go 100 at a time, parts first.
    dropExpiredParts: db.prepare<[number]>(`DELETE FROM ebb_chord_parts WHERE group_id IN (${EXPIRED_GROUPS})`),
    dropExpiredGroups: db.prepare<[number]>(`DELETE FROM ebb_chords WHERE group_id IN (${EXPIRED_GROUPS})`),
  };
}

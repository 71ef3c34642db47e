import type { PostgresPool, Queryable } from "../../postgres/pg-pool.js";
import { parseCeleryJson, stringifyCeleryJson } from "../../protocol/celery-json.js";
import type { StoredState } from "../../states.js";
import type { ChordCountOptions, ChordPart, ChordStore } from "../chord-store.js";

interface PartRow {
  task_id: string;
  state: StoredState;
  result: string;
  group_index: number | null;
}

/**
 * Chord counting in ebb_chords / ebb_chord_parts (migration 0003_beat.sql). Each part is one
 * transaction that locks its group's row first, so two processes finishing the last two parts at
 * once count one after the other, and exactly one of them gets the parts back. Abandoned chords
 * (a header part that never ran) go 100 at a time once their expiry passes.
 */
export class PostgresChords implements ChordStore {
  constructor(
    private readonly pg: PostgresPool,
    private readonly s: string,
    private readonly now: () => Promise<number>,
  ) {}

  async setChordSize(groupId: string, size: number, options: ChordCountOptions): Promise<void> {
    const now = await this.now();
    await this.pg.transaction((client) => this.touch(client, groupId, size, options, now));
  }

  async chordPartReturned(groupId: string, part: ChordPart, options: ChordCountOptions): Promise<ChordPart[] | null> {
    const now = await this.now();
    return this.pg.transaction(async (client) => {
      const size = await this.touch(client, groupId, null, options, now);
      await this.pg.query(
        `INSERT INTO ${this.s}.ebb_chord_parts (group_id, task_id, state, result, group_index) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (group_id, task_id) DO NOTHING`,
        [groupId, part.taskId, part.state, stringifyCeleryJson(part.result ?? null), part.groupIndex],
        client,
      );
      if (size === null) return null;
      const rows = await this.pg.query<PartRow>(
        `SELECT task_id, state, result, group_index FROM ${this.s}.ebb_chord_parts WHERE group_id = $1
          ORDER BY group_index IS NULL, group_index, seq`,
        [groupId],
        client,
      );
      if (rows.length !== size) return null;
      return rows.map((r) => ({ taskId: r.task_id, state: r.state, result: parseCeleryJson(r.result), groupIndex: r.group_index }));
    });
  }

  async chordCompleted(groupId: string): Promise<void> {
    await this.pg.transaction(async (client) => {
      await this.pg.query(`DELETE FROM ${this.s}.ebb_chord_parts WHERE group_id = $1`, [groupId], client);
      await this.pg.query(`DELETE FROM ${this.s}.ebb_chords WHERE group_id = $1`, [groupId], client);
    });
  }

  /** Create or refresh the group's row, locked until the transaction ends; returns its size (null until set). */
  private async touch(
    client: Queryable,
    groupId: string,
    size: number | null,
    options: ChordCountOptions,
    now: number,
  ): Promise<number | null> {
    const expired = `SELECT group_id FROM ${this.s}.ebb_chords WHERE expires_at <= $1 ORDER BY expires_at, group_id LIMIT 100`;
    await this.pg.query(`DELETE FROM ${this.s}.ebb_chord_parts WHERE group_id IN (${expired})`, [now], client);
    await this.pg.query(`DELETE FROM ${this.s}.ebb_chords WHERE group_id IN (${expired})`, [now], client);
    // A part may finish before the client has set the size (it sets it just before sending the last part).
    const [row] = await this.pg.query<{ size: number | null }>(
      `INSERT INTO ${this.s}.ebb_chords (group_id, size, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (group_id) DO UPDATE SET size = coalesce(excluded.size, ebb_chords.size), expires_at = excluded.expires_at
       RETURNING size`,
      [groupId, size, options.expiresMs === null ? null : now + options.expiresMs],
      client,
    );
    return row!.size;
  }
}

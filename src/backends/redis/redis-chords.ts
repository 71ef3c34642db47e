import type { Redis } from "ioredis";
import { ProtocolError } from "../../errors.js";
import { dumpsCeleryJson, parseCeleryJson } from "../../protocol/celery-json.js";
import { isStoredState } from "../../states.js";
import type { ChordCountOptions, ChordPart, ChordStore } from "../chord-store.js";
import { SCRIPTS } from "./scripts.js";

/**
 * Chord counting under Celery's own keys, so Python and Ebb workers count one header together:
 *
 *   <prefix>celery-taskset-meta-<gid>.s   STRING, the header size (SET PX; Celery: SETEX result_expires)
 *   <prefix>celery-taskset-meta-<gid>.j   ZSET of [1, task id, state, result] by group_index
 *   <prefix>celery-taskset-meta-<gid>.t   STRING counter of parts added later (Celery's add_to_chord)
 *
 * Python workers configured with result_chord_ordered=False keep .j as a LIST instead; Ebb does not
 * read that layout (the script fails with WRONGTYPE, and the worker retries the message).
 */
export class RedisChords implements ChordStore {
  constructor(
    private readonly redis: () => Redis,
    private readonly prefix: string,
  ) {}

  async setChordSize(groupId: string, size: number, options: ChordCountOptions): Promise<void> {
    const key = this.key(groupId, ".s");
    if (options.expiresMs === null) await this.redis().set(key, String(size));
    else await this.redis().set(key, String(size), "PX", Math.max(1, Math.ceil(options.expiresMs)));
  }

  async chordPartReturned(groupId: string, part: ChordPart, options: ChordCountOptions): Promise<ChordPart[] | null> {
    const member = dumpsCeleryJson([1, part.taskId, part.state, part.result ?? null]);
    const reply = (await SCRIPTS.chordPartReturn.run(
      this.redis(),
      [this.key(groupId, ".j"), this.key(groupId, ".t"), this.key(groupId, ".s")],
      [
        member,
        part.groupIndex === null ? "+inf" : part.groupIndex,
        options.expiresMs === null ? "" : Math.max(1, Math.ceil(options.expiresMs)),
      ],
    )) as [number, ...unknown[]];
    if (reply[0] !== 1) return null;
    return reply.slice(1).map((raw) => decodePart(String(raw), groupId));
  }

  async chordCompleted(groupId: string): Promise<void> {
    await this.redis().del(this.key(groupId, ".j"), this.key(groupId, ".t"), this.key(groupId, ".s"));
  }

  private key(groupId: string, suffix: string): string {
    return `${this.prefix}celery-taskset-meta-${groupId}${suffix}`;
  }
}

/** One .j member, [1, task id, state, result], as Celery (Python or Ebb) wrote it. */
function decodePart(raw: string, groupId: string): ChordPart {
  let parsed: unknown;
  try {
    parsed = parseCeleryJson(raw);
  } catch (cause) {
    throw new ProtocolError(`Chord ${groupId} has a part that is not JSON: ${raw.slice(0, 200)}`, { cause });
  }
  if (!Array.isArray(parsed) || parsed.length < 4 || typeof parsed[1] !== "string" || !isStoredState(parsed[2]))
    throw new ProtocolError(`Chord ${groupId} has a part that is not [1, task id, state, result]: ${raw.slice(0, 200)}`);
  // The zset is read in score order already; the index is not kept in the member.
  return { taskId: parsed[1], state: parsed[2], result: parsed[3], groupIndex: null };
}

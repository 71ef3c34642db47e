import { ARCHIVED_TABLE, EXTENDED_COLUMNS, HOLDS_TABLE, TASK_TABLE } from "./celery-table.js";

/** Which side tables exist (see celery-table.ts); one that does not exist reads as empty. */
export interface SideTables {
  holds: boolean;
  archived: boolean;
}

export interface Dialect {
  /** How a table name is written (PostgreSQL: schema-qualified and quoted). */
  table(name: string): string;
  /** Bytes of a BLOB/TEXT column, NULL as 0. */
  octets(column: string): string;
  /** date_done as "YYYY-MM-DD HH:MM:SS.ffffff" text, whatever the session's time zone. */
  dateDone: string;
}

export const SQLITE: Dialect = {
  table: (name) => name,
  // length() of TEXT counts characters: cast to BLOB for bytes.
  octets: (c) => `coalesce(length(CAST(t.${c} AS BLOB)), 0)`,
  // SQLAlchemy stores DATETIME as that text already.
  dateDone: "t.date_done",
};

/**
 * SELECT ... FROM celery_taskmeta t WHERE <where>, the columns of a CeleryRow. Extended columns the
 * table lacks (a table Celery made before result_extended) read as NULL.
 */
export function selectRowSql(columns: ReadonlySet<string>, side: SideTables, where: string, d: Dialect = SQLITE): string {
  const extended = EXTENDED_COLUMNS.map((c) => (columns.has(c) ? `t.${c}` : `NULL AS ${c}`)).join(", ");
  const bytes = ["result", "traceback", "args", "kwargs"]
    .filter((c) => c === "result" || c === "traceback" || columns.has(c))
    .map((c) => d.octets(c))
    .join(" + ");
  const held = side.holds ? `EXISTS (SELECT 1 FROM ${d.table(HOLDS_TABLE)} h WHERE h.task_id = t.task_id)` : "false";
  const archived = side.archived ? `EXISTS (SELECT 1 FROM ${d.table(ARCHIVED_TABLE)} a WHERE a.task_id = t.task_id)` : "false";
  return (
    `SELECT t.id, t.task_id, t.status, t.result, ${d.dateDone} AS date_done, t.traceback, ${extended}, ` +
    `${bytes} AS bytes, ${held} AS held, ${archived} AS archived FROM ${d.table(TASK_TABLE)} t WHERE ${where}`
  );
}

import type { CeleryRow, CheckRow, NewRow } from "./celery-row.js";

/**
 * Celery's celery_taskmeta table on one database engine (SQLite, PostgreSQL). The SQL lives in the
 * driver; what it means (which rows may go, how a row reads) lives in celery-db-backend.ts.
 *
 * Two small side tables hold what Celery's table has no column for, in the same database (and
 * schema), each created on first use by the write that needs it, never by a read:
 *   ebb_celery_holds(task_id PRIMARY KEY)      legal holds
 *   ebb_celery_archived(task_id PRIMARY KEY)   results that are in a complete, verified archive
 * Reads treat a side table that does not exist as empty. Celery never reads them; rows whose
 * task is removed leave with it.
 */
export interface CeleryTable {
  /** Check the table is there (ConfigError naming the URL if not) and learn its columns. */
  open(): Promise<void>;
  /** The database's clock, epoch ms. */
  now(): Promise<number>;
  get(taskId: string): Promise<CeleryRow | undefined>;
  /** Rows with id > afterId, by id, at most limit; with doneBy ("YYYY-MM-DD HH:MM:SS.ffffff"), only date_done <= it (never NULL). */
  page(afterId: number, limit: number, doneBy: string | null): Promise<CeleryRow[]>;
  /**
   * In one short transaction: lock and read the rows of these task ids (with their holds), let
   * `choose` pick the row ids to delete, delete those rows and their side-table entries. Returns
   * the task ids deleted.
   */
  removeChosen(taskIds: readonly string[], choose: (rows: CheckRow[]) => number[]): Promise<string[]>;
  /** Mark these task ids archived; returns how many have a row. */
  markArchived(taskIds: readonly string[]): Promise<number>;
  /** False when there is no row for the task id. */
  setHeld(taskId: string, held: boolean): Promise<boolean>;
  /** Insert a row (or with replace, overwrite the row of the same task id). False when one existed and replace is false. */
  write(row: NewRow, replace: boolean): Promise<boolean>;
  /** Delete one task's row and side-table entries. */
  forget(taskId: string): Promise<boolean>;
  close(): Promise<void>;
}

export const TASK_TABLE = "celery_taskmeta";
export const HOLDS_TABLE = "ebb_celery_holds";
export const ARCHIVED_TABLE = "ebb_celery_archived";

/** result_extended=True columns; a table Celery created before it had them may lack them. */
export const EXTENDED_COLUMNS = ["name", "args", "kwargs", "worker", "retries", "queue"] as const;

import { laneSql } from "./result-sql.js";

/**
 * The one statement that stores a batch of results ($1..$14: one array per column, see
 * storeArrays(); $15: the store clock in epoch ms, or null for PostgreSQL's own
 * statement_timestamp()). In one round trip and one transaction it:
 *  - finds the ids already stored (`probe`: every partition, or only the kept lane, where results
 *    that are not done wait for their task);
 *  - replaces those that are not done (STARTED, RETRY), keeping a hold; a ready result is final,
 *    and its id comes back with stored = false;
 *  - inserts the rest, each into the partition of its lane and expiry;
 *  - records each expiring id in the expiry ledger, so it reads EXPIRED after its partition is gone.
 * Rows come back for every id given, with what was written (or, for a kept one, nothing more:
 * the caller reads it).
 */
export function storeStatement(s: string, probe: "all" | "kept", ack = false): string {
  const probed = probe === "all" ? `${s}.ebb_results` : `${s}.ebb_results_kept`;
  // finishWith(): the messages of these results are acked in the same statement ($16 ids, $17
  // lease tokens, pairwise), only while each lease is still the one named (broker 0002_broker.sql).
  const acked = ack
    ? `, acked AS (
  DELETE FROM ${s}.ebb_messages m USING unnest($16::bigint[], $17::uuid[]) AS a(id, token)
   WHERE m.id = a.id AND m.lease_token = a.token
)`
    : "";
  return `
WITH now AS (
  SELECT coalesce($15::bigint, floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint) AS ms
), req AS (
  SELECT q.*, CASE WHEN q.status IN ('SUCCESS', 'FAILURE', 'REVOKED') THEN now.ms END AS date_done,
         CASE WHEN q.lifetime IS NULL THEN NULL
              WHEN q.status IN ('SUCCESS', 'FAILURE', 'REVOKED') THEN now.ms + q.lifetime
              ELSE now.ms + q.lifetime END AS expires_at
  FROM now, unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[],
                   $9::text[], $10::text[], $11::text[], $12::text[], $13::int[], $14::text[])
       AS q(task_id, status, result, traceback, children, lifetime, tier, action, name, args, kwargs, worker, retries, queue)
), prior AS (
  -- One index probe per id (per partition): never a scan of the table, however the planner
  -- guesses the size of an array.
  SELECT r.task_id, r.status IN ('SUCCESS', 'FAILURE', 'REVOKED') AS ready
    FROM unnest($1::text[]) AS i(id)
    CROSS JOIN LATERAL (SELECT x.task_id, x.status FROM ${probed} x WHERE x.task_id = i.id LIMIT 1) r
), replaced AS (
  UPDATE ${s}.ebb_results r
     SET lane = ${laneSql("q.", "r.held")}, status = q.status, result = q.result, traceback = q.traceback,
         children = q.children, date_done = q.date_done, expires_at = q.expires_at, tier = q.tier, action = q.action,
         archived = false, name = q.name, args = q.args, kwargs = q.kwargs, worker = q.worker, retries = q.retries, queue = q.queue
    FROM req q JOIN prior p ON p.task_id = q.task_id AND NOT p.ready
   WHERE r.task_id = q.task_id
  RETURNING r.task_id, r.lane, r.held, r.date_done, r.expires_at
), inserted AS (
  INSERT INTO ${s}.ebb_results (task_id, lane, status, result, traceback, children, date_done, expires_at, tier, action,
                               name, args, kwargs, worker, retries, queue)
  SELECT q.task_id, ${laneSql("q.", "false")}, q.status, q.result, q.traceback, q.children, q.date_done, q.expires_at,
         q.tier, q.action, q.name, q.args, q.kwargs, q.worker, q.retries, q.queue
    FROM req q WHERE NOT EXISTS (SELECT 1 FROM prior p WHERE p.task_id = q.task_id)
  RETURNING task_id, lane, held, date_done, expires_at
), written AS (
  SELECT * FROM replaced UNION ALL SELECT * FROM inserted
), ledger AS (
  INSERT INTO ${s}.ebb_expiry_ledger (id_hash, expires_at)
  SELECT hashtextextended(w.task_id, 0), w.expires_at FROM written w WHERE w.lane < 2
)${acked}
SELECT w.task_id, true AS stored, w.held, w.date_done, w.expires_at, (SELECT ms FROM now) AS now FROM written w
UNION ALL
SELECT p.task_id, false, false, NULL, NULL, (SELECT ms FROM now) FROM prior p WHERE p.ready`;
}

/** What the store statement returns per id. */
export interface StoredRow {
  task_id: string;
  stored: boolean;
  held: boolean;
  date_done: number | null;
  expires_at: number | null;
  now: number;
}

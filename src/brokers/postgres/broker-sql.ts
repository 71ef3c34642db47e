/**
 * Every statement the PostgreSQL broker runs, for the tables in 0002_broker.sql, qualified with the
 * quoted schema `s`. Each runs as one named prepared statement (PostgresPool.query) and so as one
 * transaction of its own. Each contract lists the parameters and what comes back.
 *
 * `now` is the injected clock's instant when a Clock is injected (tests), else NULL: then the
 * store's clock is used, read once per statement (statement_timestamp() is stable within a
 * statement, so the fetch can use it as an index bound).
 */

/** The store's clock in epoch ms, or parameter $n when it is not NULL. */
export function nowOr(n: number): string {
  return `coalesce($${n}::bigint, floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint)`;
}

/** The store's clock now, epoch ms (the broker's now()). */
export const CLOCK_SQL = "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now";

/** Rows the lease statement returns; `ord`, `priority` and `was_visible_at` say where the row stood in the order. */
export interface LeasedRow {
  id: number;
  queue: string;
  body: string;
  delivered_count: number;
  ord: number;
  priority: number;
  was_visible_at: number;
}

export interface DeadLetterRow {
  id: number;
  queue: string;
  body: string;
  reason: string;
  at: number;
}

export function brokerSql(s: string) {
  const messages = `${s}.ebb_messages`;
  return {
    /**
     * Insert a batch in array order, then notify the channel (delivered at commit; several
     * notifies of one transaction with one payload arrive as one).
     * $1 queues text[], $2 priorities int[], $3 bodies text[], $4 availableAt bigint[] (NULL = now),
     * $5 now, $6 channel. Returns one row.
     */
    publish: `WITH published AS (
        INSERT INTO ${messages} (queue, priority, body, visible_at, published_at)
        SELECT t.queue, t.priority, t.body, coalesce(t.available_at, ${nowOr(5)}), ${nowOr(5)}
        FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[]) WITH ORDINALITY AS t(queue, priority, body, available_at, n)
        ORDER BY t.n
      )
      SELECT pg_notify($6, '')`,

    /**
     * Lease up to $2 visible messages: per queue (in the order of $1) its visible rows by priority
     * (0 first), visibility, id, locked with SKIP LOCKED so concurrent fetchers divide the rows
     * instead of waiting on each other; then the first $2 of them across queues get the lease.
     * MATERIALIZED: the locking subquery runs exactly once.
     * $1 queues text[], $2 max int, $3 visibility timeout ms, $4 lease token uuid, $5 now.
     * Returns LeasedRow per leased message, in no set order.
     */
    lease: `WITH picked AS MATERIALIZED (
        SELECT c.id, q.ord, c.priority, c.visible_at
        FROM unnest($1::text[]) WITH ORDINALITY AS q(name, ord)
        CROSS JOIN LATERAL (
          SELECT m.id, m.priority, m.visible_at FROM ${messages} m
          WHERE m.queue = q.name AND m.visible_at <= ${nowOr(5)}
          ORDER BY m.priority, m.visible_at, m.id
          LIMIT $2
          FOR UPDATE SKIP LOCKED
        ) c
        ORDER BY q.ord, c.priority, c.visible_at, c.id
        LIMIT $2
      )
      UPDATE ${messages} m
      SET visible_at = ${nowOr(5)} + $3::bigint, lease_token = $4::uuid, delivered_count = m.delivered_count + 1
      FROM picked WHERE m.id = picked.id
      RETURNING m.id, m.queue, m.body, m.delivered_count, picked.ord, picked.priority, picked.visible_at AS was_visible_at`,

    /** Delete the messages whose lease is still the one named. $1 ids bigint[], $2 tokens uuid[] (pairwise). Returns the ids deleted. */
    ack: `DELETE FROM ${messages} m USING unnest($1::bigint[], $2::uuid[]) AS a(id, token)
      WHERE m.id = a.id AND m.lease_token = a.token
      RETURNING m.id`,

    /** Move leases forward to now + $3. $1 ids bigint[], $2 tokens uuid[], $3 visibility timeout ms, $4 now. */
    extend: `UPDATE ${messages} m SET visible_at = ${nowOr(4)} + $3::bigint
      FROM unnest($1::bigint[], $2::uuid[]) AS a(id, token)
      WHERE m.id = a.id AND m.lease_token = a.token`,

    /**
     * End a lease: visible again at $3 (NULL = now), and notify. $1 id, $2 token, $3 availableAt,
     * $4 now, $5 channel. Returns one row when the lease was still this one, none otherwise.
     */
    release: `WITH released AS (
        UPDATE ${messages} SET visible_at = coalesce($3::bigint, ${nowOr(4)}), lease_token = NULL
        WHERE id = $1 AND lease_token = $2::uuid
        RETURNING id
      )
      SELECT pg_notify($5, '') FROM released`,

    /** Move the message to the dead letters, bytes unchanged. $1 id, $2 token, $3 reason, $4 now. Returns the dead letter's id, or nothing. */
    deadLetter: `WITH moved AS (
        DELETE FROM ${messages} WHERE id = $1 AND lease_token = $2::uuid RETURNING queue, body
      )
      INSERT INTO ${s}.ebb_dead_letters (queue, body, reason, at) SELECT queue, body, $3, ${nowOr(4)} FROM moved
      RETURNING id`,

    /** A page of dead letters below id $1, newest first. $1 cursor bigint, $2 limit. Returns DeadLetterRow. */
    deadLetters: `SELECT id, queue, body, reason, at FROM ${s}.ebb_dead_letters WHERE id < $1 ORDER BY id DESC LIMIT $2`,

    /**
     * publishOnce in one statement: take key $1 (absent, or lapsed: expires_at <= now) until
     * now + $2, and insert the message only if the key was taken; a live key's conflict updates
     * nothing, so of concurrent callers exactly one takes it. Up to $9 other lapsed keys are
     * deleted on the way (SKIP LOCKED: never waits on another caller's key; never this key, which
     * the insert handles, as one statement may not change one row twice).
     * $1 key, $2 key ttl ms, $3 queue, $4 priority, $5 body, $6 availableAt (NULL = now), $7 now,
     * $8 channel, $9 prune batch. Returns one row when it published, none otherwise.
     */
    publishOnce: `WITH pruned AS (
        DELETE FROM ${s}.ebb_publish_keys WHERE key IN (
          SELECT key FROM ${s}.ebb_publish_keys WHERE expires_at <= ${nowOr(7)} AND key <> $1
          ORDER BY expires_at LIMIT $9 FOR UPDATE SKIP LOCKED
        )
      ), taken AS (
        INSERT INTO ${s}.ebb_publish_keys AS k (key, expires_at) VALUES ($1, ${nowOr(7)} + $2::bigint)
        ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE k.expires_at <= ${nowOr(7)}
        RETURNING key
      ), published AS (
        INSERT INTO ${messages} (queue, priority, body, visible_at, published_at)
        SELECT $3, $4, $5, coalesce($6::bigint, ${nowOr(7)}), ${nowOr(7)} FROM taken
        RETURNING id
      )
      SELECT pg_notify($8, '') FROM published`,
  };
}

export type BrokerSql = ReturnType<typeof brokerSql>;

-- Ebb's broker (src/brokers/postgres): messages waiting or leased, dead letters, publishOnce keys.
-- All instants are bigint epoch milliseconds on the store's clock. Queue names and keys compare
-- bytewise (COLLATE "C").
--
-- A message is one row from publish to ack. visible_at is when it may next be handed out: the
-- publish's availableAt (or the publish time), a release's availableAt, or, while it is leased,
-- the end of the lease. Keeping "not before" and "leased until" in one column lets the fetch
-- index (queue, priority, visible_at, id) put a priority's visible rows first and its leased and
-- delayed rows after them, so a fetch never walks past the messages workers hold. lease_token is
-- the current lease's token (NULL when it was never leased or was released); ack, extend,
-- release and deadLetter match it, so a worker whose lease was taken over touches nothing.
-- delivered_count counts leases; above 1 the delivery is a redelivery. body is the message
-- exactly as serializeTransportMessage() wrote it.
--
-- Storage: a queue table is a churn table. Every message is inserted, updated once (the lease
-- moves visible_at, an indexed column, so that update is never HOT) and deleted, leaving two dead
-- tuples, while the live row count stays small. With the default autovacuum_vacuum_scale_factor
-- (0.2 of the live rows) a table that had a backlog of a million waits for 200k dead tuples
-- before it is vacuumed, and fetches wade through dead index entries meanwhile; so vacuum is
-- triggered by an absolute count (threshold 1000, scale factor 0.01) and analyze often enough
-- that the planner knows the table's size as it swings. fillfactor 80 leaves room on each page
-- for the lease and extend updates' new versions, so they stay on the page they came from
-- instead of extending the table.
CREATE TABLE ebb_messages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue text COLLATE "C" NOT NULL,
  priority integer NOT NULL,
  visible_at bigint NOT NULL,
  lease_token uuid,
  delivered_count integer NOT NULL DEFAULT 0,
  published_at bigint NOT NULL,
  body text NOT NULL
) WITH (
  fillfactor = 80,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_analyze_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.05
);

-- The fetch path: per queue, lowest priority first, visible rows first, then FIFO.
CREATE INDEX ebb_messages_fetch ON ebb_messages (queue, priority, visible_at, id);

-- Messages moved aside with a reason, kept byte for byte; paged newest first by id.
CREATE TABLE ebb_dead_letters (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue text NOT NULL,
  body text NOT NULL,
  reason text NOT NULL,
  at bigint NOT NULL
);

-- publishOnce() keys: a key lives until expires_at; a lapsed one may be taken again. Lapsed keys
-- are deleted a bounded batch at a time by later publishOnce() calls.
CREATE TABLE ebb_publish_keys (
  key text COLLATE "C" PRIMARY KEY,
  expires_at bigint NOT NULL
);
CREATE INDEX ebb_publish_keys_expiry ON ebb_publish_keys (expires_at);

-- Ebb's results, partitioned so that expiry drops partitions instead of deleting rows.
-- All instants are bigint epoch milliseconds, UTC. Task ids compare bytewise (COLLATE "C").
--
-- lane says where a row lives, and is set by Ebb whenever a row is written or changes:
--   0  a ready result (SUCCESS, FAILURE, REVOKED) that expires and is deleted then: partitioned
--      by expires_at, one partition per hour or day (ebb_results_d_<start>)
--   1  the same for a tier whose action is archive (ebb_results_a_<start>): a partition is
--      dropped only once every row in it is in a verified archive
--   2  everything else: results that never expire, held results, and states that are not
--      done (STARTED, RETRY), whose task will replace them (ebb_results_kept)
-- A hold, a changed lifetime or a restore rewrites lane and expires_at, and PostgreSQL moves the
-- row to its partition. Each partition has its own unique index on task_id.
CREATE TABLE ebb_results (
  task_id text COLLATE "C" NOT NULL,
  lane smallint NOT NULL,
  status text NOT NULL,
  result text,
  traceback text,
  children text,
  date_done bigint,
  expires_at bigint,
  tier text,
  action text NOT NULL,
  held boolean NOT NULL DEFAULT false,
  archived boolean NOT NULL DEFAULT false,
  name text,
  args text,
  kwargs text,
  worker text,
  retries integer,
  queue text
) PARTITION BY LIST (lane);

CREATE TABLE ebb_results_kept PARTITION OF ebb_results FOR VALUES IN (2);
CREATE UNIQUE INDEX ebb_results_kept_task_id ON ebb_results_kept (task_id);
CREATE INDEX ebb_results_kept_expiry ON ebb_results_kept (expires_at, task_id) WHERE expires_at IS NOT NULL;

CREATE TABLE ebb_results_delete PARTITION OF ebb_results FOR VALUES IN (0) PARTITION BY RANGE (expires_at);
CREATE TABLE ebb_results_archive PARTITION OF ebb_results FOR VALUES IN (1) PARTITION BY RANGE (expires_at);

-- Ids removed one at a time (cleanup's batches, archive --delete): EXPIRED for the grace window,
-- naming the archive that took them.
CREATE TABLE ebb_tombstones (
  task_id text COLLATE "C" PRIMARY KEY,
  expired_at bigint NOT NULL,
  archive_file text,
  archived_at bigint
);
CREATE INDEX ebb_tombstones_expired ON ebb_tombstones (expired_at);

-- What a dropped partition leaves behind: each expiring result's id hash and expiry, written when
-- the result is stored, in partitions of the same width that are dropped once the grace window
-- is over. A lookup of an id that is no longer stored reads EXPIRED from here.
CREATE TABLE ebb_expiry_ledger (
  id_hash bigint NOT NULL,
  expires_at bigint NOT NULL
) PARTITION BY RANGE (expires_at);

-- The store's settings, fixed when it is made (partition width).
CREATE TABLE ebb_settings (
  key text PRIMARY KEY,
  value text NOT NULL
);

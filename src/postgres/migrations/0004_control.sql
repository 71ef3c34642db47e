-- Remote control on the PostgreSQL broker (src/brokers/postgres/postgres-control.ts), as on SQLite.
-- All instants are bigint epoch milliseconds on the store's clock.
--
-- ebb_control_requests: one row per request (ping, inspect, revoke, ...), body as kombu writes
--   it. Every listening worker reads the rows past its own cursor (id), so ids must become
--   visible in id order: senders insert one at a time under an advisory lock. Rows are kept for
--   REVOKED_EXPIRES_MS (3 h), so a worker that starts later replays the revokes among them;
--   older ones are deleted a bounded batch at a time by later sends, oldest first (sent_at).
-- ebb_control_replies: one row per reply, under the ticket of the request it answers. The
--   sender takes its ticket's rows as they come (DELETE ... RETURNING); a reply nobody took
--   (its sender gave up) is deleted by a later send once it is old.
CREATE TABLE ebb_control_requests (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  method text NOT NULL,
  body text NOT NULL,
  sent_at bigint NOT NULL
);
CREATE INDEX ebb_control_requests_sent_at ON ebb_control_requests (sent_at);

CREATE TABLE ebb_control_replies (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ticket text COLLATE "C" NOT NULL,
  body text NOT NULL,
  sent_at bigint NOT NULL
);
CREATE INDEX ebb_control_replies_ticket ON ebb_control_replies (ticket, id);
CREATE INDEX ebb_control_replies_sent_at ON ebb_control_replies (sent_at);

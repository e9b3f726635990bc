/** The message log's SQLite schema, as migration steps by `user_version` (step i takes version i to i + 1). */

/** Version 1: the verifying receiver's store (one row per message id). */
const V1 = `
CREATE TABLE IF NOT EXISTS messages (
  id          TEXT    PRIMARY KEY,
  type        TEXT    NOT NULL,
  timestamp   INTEGER NOT NULL,
  body        BLOB    NOT NULL,
  headers     TEXT    NOT NULL,
  caller      TEXT,
  received_at INTEGER NOT NULL,
  batch_id    TEXT
);
`;

/**
 * Version 2: the sidecar. Each message gets its route, severity and a summary status kept in step
 * with its deliveries (so lists filter by an index, not by a join); one delivery row per sink of its
 * route; one attempt row per try; the sinks' enabled state; and refused requests.
 */
const V2 = `
ALTER TABLE messages ADD COLUMN route TEXT;
ALTER TABLE messages ADD COLUMN severity TEXT;
ALTER TABLE messages ADD COLUMN status TEXT NOT NULL DEFAULT 'stored';
ALTER TABLE messages ADD COLUMN filtered_reason TEXT;
CREATE INDEX messages_received ON messages (received_at);
CREATE INDEX messages_status ON messages (status, received_at);
CREATE INDEX messages_type ON messages (type, received_at);

CREATE TABLE deliveries (
  id                 INTEGER PRIMARY KEY,
  message_id         TEXT    NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  sink               TEXT    NOT NULL,
  state              TEXT    NOT NULL,
  attempts           INTEGER NOT NULL DEFAULT 0,
  next_attempt_at    INTEGER NOT NULL,
  deadline_at        INTEGER NOT NULL,
  last_status        INTEGER,
  last_error         TEXT,
  updated_at         INTEGER NOT NULL,
  delivered_at       INTEGER,
  possible_duplicate INTEGER NOT NULL DEFAULT 0,
  UNIQUE (message_id, sink)
);
CREATE INDEX deliveries_due ON deliveries (sink, state, next_attempt_at);
CREATE INDEX deliveries_state ON deliveries (state, sink);

CREATE TABLE attempts (
  id          INTEGER PRIMARY KEY,
  delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
  started_at  INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  outcome     TEXT    NOT NULL,
  status      INTEGER,
  error       TEXT
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);

CREATE TABLE sink_state (
  name       TEXT    PRIMARY KEY,
  state      TEXT    NOT NULL,
  reason     TEXT,
  changed_at INTEGER NOT NULL
);

CREATE TABLE rejections (
  id          INTEGER PRIMARY KEY,
  at          INTEGER NOT NULL,
  request_id  TEXT,
  caller      TEXT,
  route       TEXT,
  status      INTEGER NOT NULL,
  code        TEXT    NOT NULL
);
CREATE INDEX rejections_at ON rejections (at);
`;

/**
 * Version 3: list indexes in arrival order. The admin page lists newest first by rowid; an index on
 * one column carries the rowid after it, so `WHERE status = ? ORDER BY rowid DESC LIMIT 50` walks
 * the index and stops after 50 rows instead of sorting every match (100,000 rows: a temp B-tree).
 * They replace (status, received_at) and (type, received_at): with those the planner sorted every
 * match of `status = ? AND received_at >= ?`; now time ranges are a check on rows read in order.
 */
const V3 = `
DROP INDEX IF EXISTS messages_status;
DROP INDEX IF EXISTS messages_type;
CREATE INDEX messages_status_seq ON messages (status);
CREATE INDEX messages_type_seq ON messages (type);
CREATE INDEX messages_route_seq ON messages (route);
`;

/** Every step, oldest first. */
export const LOG_MIGRATIONS: readonly string[] = [V1, V2, V3];

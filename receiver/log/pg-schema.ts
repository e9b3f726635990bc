/** The message log's PostgreSQL schema, as versioned migrations recorded in `schema_migrations` (version i applied once, in order). */

/** One migration: its version (1, 2, …), a name for the record, and its SQL (run in one transaction). */
export interface PgMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * Version 1: the tables of the SQLite store (schema version 3), plus what sharing needs: `seq`
 * gives arrival order (SQLite's rowid), and each delivery carries its claim — `claimed_by` (the
 * replica holding it) and `lease_until` (ms since the epoch; after it another replica may take it).
 * Times are ms since the epoch as BIGINT; the event `timestamp` (seconds) and attempt durations
 * are DOUBLE PRECISION as given.
 */
const V1 = `
CREATE TABLE messages (
  id              TEXT PRIMARY KEY,
  seq             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
  type            TEXT NOT NULL,
  timestamp       DOUBLE PRECISION NOT NULL,
  body            BYTEA NOT NULL,
  headers         TEXT NOT NULL,
  caller          TEXT,
  received_at     BIGINT NOT NULL,
  batch_id        TEXT,
  route           TEXT,
  severity        TEXT,
  status          TEXT NOT NULL DEFAULT 'stored',
  filtered_reason TEXT
);
CREATE INDEX messages_received ON messages (received_at);
CREATE INDEX messages_status_seq ON messages (status, seq);
CREATE INDEX messages_type_seq ON messages (type, seq);
CREATE INDEX messages_route_seq ON messages (route, seq);

CREATE TABLE deliveries (
  id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id         TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  sink               TEXT NOT NULL,
  state              TEXT NOT NULL,
  attempts           INTEGER NOT NULL DEFAULT 0,
  next_attempt_at    BIGINT NOT NULL,
  deadline_at        BIGINT NOT NULL,
  last_status        INTEGER,
  last_error         TEXT,
  updated_at         BIGINT NOT NULL,
  delivered_at       BIGINT,
  possible_duplicate BOOLEAN NOT NULL DEFAULT false,
  claimed_by         TEXT,
  lease_until        BIGINT,
  UNIQUE (message_id, sink)
);
CREATE INDEX deliveries_due ON deliveries (sink, state, next_attempt_at);
CREATE INDEX deliveries_lease ON deliveries (sink, lease_until) WHERE state = 'inflight';
CREATE INDEX deliveries_state ON deliveries (state, sink);

CREATE TABLE attempts (
  id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  delivery_id BIGINT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
  started_at  BIGINT NOT NULL,
  duration_ms DOUBLE PRECISION NOT NULL,
  outcome     TEXT NOT NULL,
  status      INTEGER,
  error       TEXT
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);

CREATE TABLE sink_state (
  name       TEXT PRIMARY KEY,
  state      TEXT NOT NULL,
  reason     TEXT,
  changed_at BIGINT NOT NULL
);

CREATE TABLE rejections (
  id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at         BIGINT NOT NULL,
  request_id TEXT,
  caller     TEXT,
  route      TEXT,
  status     INTEGER NOT NULL,
  code       TEXT NOT NULL
);
CREATE INDEX rejections_at ON rejections (at);
`;

/** Every migration, oldest first. */
export const PG_MIGRATIONS: readonly PgMigration[] = [{ version: 1, name: 'message log', sql: V1 }];

/** The table recording applied migrations. */
export const MIGRATIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`;

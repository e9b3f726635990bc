/** The message log on PostgreSQL (node-postgres pool): shared by several receiver replicas, deliveries claimed with SKIP LOCKED and a lease. */
import { randomUUID } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import pg from 'pg';
import { isSeverity } from '../../connector/webhook/severity.js';
import { OptionError, ReceiverError } from '../../core/index.js';
import type { AttemptResult, MessageDetail, MessageLog, PurgeResult, ResubmitSelect } from './message-log.js';
import { isAuthFailure, isUnavailable, pgStoreError } from './pg-errors.js';
import { MIGRATIONS_TABLE_SQL, PG_MIGRATIONS } from './pg-schema.js';
import { checkLimit, MAX_QUERY_LIMIT } from './store.js';
import type {
  Attempt, Delivery, DeliveryJob, DeliveryState, MessageQuery, MessageStatus, MessageSummary, NewStoredMessage, Rejection, RoutedMessage, SinkState, StoredMessage,
} from './types.js';

/** How long a claimed delivery stays a replica's before another may take it over, in milliseconds (longer than any sink timeout). */
export const DEFAULT_LEASE_MS = 60_000;
/** Connections per replica. */
export const DEFAULT_POOL_SIZE = 10;
/** How long a new connection may take before the store counts as unreachable, in milliseconds. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Rows per multi-row INSERT (12 parameters each: well under PostgreSQL's 65,535). */
const INSERT_CHUNK_ROWS = 500;
/** Key of the advisory lock that serialises migrations of replicas starting together. */
const MIGRATION_LOCK_KEY = 0x64_61_72_6b; // "dark"
/** First key of the two-key advisory locks that hold replica slots (the second: the slot name's hash). */
const REPLICA_SLOT_LOCK_CLASS = 0x64_68_72_73; // "dhrs"
/** Slots tried per prefix before a replica falls back to a one-off claim mark. */
const MAX_REPLICA_SLOTS = 64;
/** Delivery states that are finished: retention may remove their message. */
const FINISHED = "('delivered', 'dead', 'skipped')";
const MESSAGE_COLUMNS = ['id', 'type', 'timestamp', 'body', 'headers', 'caller', 'received_at', 'batch_id', 'route', 'severity', 'status', 'filtered_reason'];

/** Published on `darkhook:store:pool-error` when an idle connection fails (the server restarted): `{ location, code }`. */
export const STORE_POOL_ERROR_CHANNEL = 'darkhook:store:pool-error';
const poolErrors = channel(STORE_POOL_ERROR_CHANNEL);

/** Where and how to connect (the password already resolved from its reference; never logged). */
export interface PgLogOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly password?: string | undefined;
  /** Lease of a claimed delivery, in ms; default {@link DEFAULT_LEASE_MS}. */
  readonly leaseMs?: number;
  /** Connections in the pool; default {@link DEFAULT_POOL_SIZE}. */
  readonly poolSize?: number;
  /** Connect timeout, in ms; default {@link DEFAULT_CONNECT_TIMEOUT_MS}. */
  readonly connectTimeoutMs?: number;
  /**
   * Names this replica's claims `<prefix>#<n>`: the first slot `n` no live replica holds (a
   * session advisory lock, kept for the log's life and released by PostgreSQL when the process
   * dies). A replica restarted after a crash takes a free slot, so it takes back the deliveries a
   * dead holder of that slot left in flight at once instead of after their lease. Default: none
   * (a random claim mark; such claims are taken over only when their lease runs out).
   */
  readonly replicaPrefix?: string;
}

// BIGINT (int8, oid 20) as a number: every time is ms since the epoch, far below 2^53.
const TYPES = {
  getTypeParser: ((oid: number, format?: string) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

interface MessageRow {
  id: string; type: string; timestamp: number; body: Buffer; headers: string; caller: string | null; received_at: number; batch_id: string | null;
  route: string | null; severity: string | null; status: MessageStatus; filtered_reason: string | null;
}
interface DeliveryRow {
  id: number; message_id: string; sink: string; state: DeliveryState; attempts: number; next_attempt_at: number; deadline_at: number;
  last_status: number | null; last_error: string | null; updated_at: number; delivered_at: number | null; possible_duplicate: boolean;
}
type Db = pg.Pool | pg.PoolClient;

function toMessage(r: MessageRow): StoredMessage {
  return Object.freeze({
    id: r.id, type: r.type, timestamp: r.timestamp, body: r.body, headers: JSON.parse(r.headers) as Record<string, string>, caller: r.caller ?? undefined,
    receivedAt: r.received_at, batchId: r.batch_id ?? undefined, route: r.route ?? undefined, severity: isSeverity(r.severity) ? r.severity : undefined,
    status: r.status, filteredReason: r.filtered_reason ?? undefined,
  });
}

function toDelivery(r: DeliveryRow): Delivery {
  return Object.freeze({
    id: r.id, messageId: r.message_id, sink: r.sink, state: r.state, attempts: r.attempts, nextAttemptAt: r.next_attempt_at, deadlineAt: r.deadline_at,
    lastStatus: r.last_status ?? undefined, lastError: r.last_error ?? undefined, updatedAt: r.updated_at, deliveredAt: r.delivered_at ?? undefined,
    possibleDuplicate: r.possible_duplicate,
  });
}

/** `($1, $2, …), (…)` for `rows` rows of `cols` parameters. */
function placeholders(rows: number, cols: number): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) out.push(`(${Array.from({ length: cols }, (_, c) => `$${r * cols + c + 1}`).join(', ')})`);
  return out.join(', ');
}

/** The summary status of messages from their deliveries (as the SQLite store computes it). */
const REFRESH_STATUS = `
UPDATE messages m SET status = coalesce((
  SELECT CASE
    WHEN COUNT(*) = 0 THEN NULL
    WHEN COUNT(*) FILTER (WHERE state IN ('pending', 'inflight')) > 0 THEN 'pending'
    WHEN COUNT(*) FILTER (WHERE state = 'dead') > 0 THEN 'dead'
    WHEN COUNT(*) FILTER (WHERE state = 'delivered') > 0 THEN 'delivered'
    ELSE 'filtered' END
  FROM deliveries d WHERE d.message_id = m.id), m.status)
WHERE m.id = ANY($1)`;

/**
 * The message log in a PostgreSQL database, for one or several receiver replicas. `ingest`
 * resolves after the commit (PostgreSQL's `synchronous_commit`), and a replayed id is skipped by
 * the primary key whichever replica sees it. `claimDue` takes due deliveries with
 * `FOR UPDATE SKIP LOCKED`, marks them with this replica's claim and a lease; a replica that
 * dies leaves its claims to expire, and any replica then takes them (as possible duplicates).
 * Finishing or releasing a delivery whose claim was taken over changes nothing.
 *
 * @example
 * const log = await PgMessageLog.open({ host: '127.0.0.1', port: 5432, user: 'darkhook', database: 'darkhook', password });
 */
export class PgMessageLog implements MessageLog {
  readonly kind = 'postgres' as const;
  readonly location: string;
  readonly #pool: pg.Pool;
  readonly #leaseMs: number;
  /** `finishAttempt` calls waiting for this event-loop turn's group commit. */
  #finishing: { readonly deliveryId: number; readonly r: AttemptResult; resolve(): void; reject(err: unknown): void }[] = [];
  #replicaId: string = randomUUID();
  /** Every claim mark this process has used (its slot name, then a one-off mark if the slot was lost): its late outcomes still count. */
  readonly #marks = new Set<string>([this.#replicaId]);
  /** The connection holding this replica's slot lock, when it holds a slot. */
  #slotLock: pg.Client | undefined;
  #closed = false;

  private constructor(pool: pg.Pool, location: string, leaseMs: number) {
    this.#pool = pool;
    this.location = location;
    this.#leaseMs = leaseMs;
  }

  /** This replica's claim mark on the deliveries it holds: its slot name (`<prefix>#<n>`), else random per open. */
  get replicaId(): string {
    return this.#replicaId;
  }

  /** True when this replica holds a named slot (and so takes back that slot's in-flight deliveries at start). */
  get holdsSlot(): boolean {
    return this.#slotLock !== undefined;
  }

  /**
   * Connect, check the login, and apply the migrations not yet recorded in `schema_migrations`
   * (under an advisory lock, so replicas starting together migrate once).
   *
   * @throws {ReceiverError} ERR_RECEIVER_STORE_UNAVAILABLE (no server answers), ERR_RECEIVER_STORE_AUTH_FAILED (login refused), ERR_RECEIVER_STORE_FAILED
   */
  static async open(o: PgLogOptions): Promise<PgMessageLog> {
    const location = `postgres://${o.user}@${o.host.startsWith('/') ? `[${o.host}]` : o.host}:${o.port}/${o.database}`;
    const pool = new pg.Pool({
      host: o.host, port: o.port, user: o.user, database: o.database, password: o.password, max: o.poolSize ?? DEFAULT_POOL_SIZE,
      connectionTimeoutMillis: o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, types: TYPES, application_name: 'darkhook-receiver',
    });
    // An idle connection that fails (server restart) must not crash the process: the next query reconnects.
    pool.on('error', (err) => {
      if (poolErrors.hasSubscribers) poolErrors.publish({ location, code: (err as { code?: unknown }).code ?? 'connection' });
    });
    const log = new PgMessageLog(pool, location, o.leaseMs ?? DEFAULT_LEASE_MS);
    try {
      await log.#migrate();
      if (o.replicaPrefix !== undefined) await log.#takeSlot(o, o.replicaPrefix);
    } catch (cause) {
      await log.#slotLock?.end().catch(() => undefined);
      await pool.end().catch(() => undefined);
      // #tx wrapped the driver's error; decide on the driver's own.
      if (cause instanceof ReceiverError && cause.cause === undefined) throw cause;
      const root = cause instanceof ReceiverError ? cause.cause : cause;
      if (isAuthFailure(root)) throw new ReceiverError('ERR_RECEIVER_STORE_AUTH_FAILED', `PostgreSQL refused the login of ${o.user} at ${location}`, { statusCode: 500, cause: root });
      if (isUnavailable(root)) throw new ReceiverError('ERR_RECEIVER_STORE_UNAVAILABLE', `no PostgreSQL server answers at ${location}`, { statusCode: 503, cause: root });
      throw pgStoreError(location, 'opened', root);
    }
    return log;
  }

  /** Hold the first free slot of `prefix` on a connection of its own (outside the pool, so it stays open). */
  async #takeSlot(o: PgLogOptions, prefix: string): Promise<void> {
    const client = new pg.Client({
      host: o.host, port: o.port, user: o.user, database: o.database, password: o.password,
      connectionTimeoutMillis: o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, application_name: 'darkhook-receiver-slot',
    });
    // Losing this connection (a server restart, an idle timeout) frees the slot: another sidecar
    // restarted on this host may take it and re-send what was in flight under its name (possible
    // duplicates). From then on this process claims under a one-off mark, so no two live processes
    // ever claim under one name; its own late outcomes under the old name still count (#marks).
    const lost = (): void => {
      if (this.#slotLock !== client) return;
      this.#slotLock = undefined;
      this.#replicaId = randomUUID();
      this.#marks.add(this.#replicaId);
    };
    client.on('error', (err) => {
      if (poolErrors.hasSubscribers) poolErrors.publish({ location: this.location, code: (err as { code?: unknown }).code ?? 'connection' });
      lost();
    });
    client.on('end', lost);
    await client.connect();
    for (let n = 0; n < MAX_REPLICA_SLOTS; n++) {
      const name = `${prefix}#${n}`;
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [REPLICA_SLOT_LOCK_CLASS, name]);
      if (rows[0]?.ok === true) {
        this.#replicaId = name;
        this.#marks.add(name);
        this.#slotLock = client;
        return;
      }
    }
    // Every slot is live: claim under a one-off mark, taken over after the lease like before.
    await client.end();
  }

  async #migrate(): Promise<void> {
    await this.#tx('migrated', async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await c.query(MIGRATIONS_TABLE_SQL);
      const done = new Set((await c.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
      const newest = Math.max(0, ...done);
      if (newest > PG_MIGRATIONS.length) {
        throw new ReceiverError('ERR_RECEIVER_STORE_FAILED', `${this.location} has schema version ${newest}, newer than this darkhook (${PG_MIGRATIONS.length})`, { statusCode: 500 });
      }
      for (const m of PG_MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
      }
    });
  }

  /** The versions recorded in `schema_migrations`, oldest first. */
  async migrations(): Promise<number[]> {
    return this.#run('read', async (db) => (await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version));
  }

  async has(id: string): Promise<boolean> {
    return this.#run('read', async (db) => (await db.query('SELECT 1 FROM messages WHERE id = $1', [id])).rowCount! > 0);
  }

  async insert(messages: readonly NewStoredMessage[], receivedAt: number = Date.now()): Promise<string[]> {
    return this.ingest(messages.map((m) => ({ ...m, route: '', severity: undefined, sinks: [], filteredReason: undefined })), receivedAt);
  }

  async ingest(messages: readonly RoutedMessage[], receivedAt: number = Date.now(), deadlineMs: ReadonlyMap<string, number> = new Map()): Promise<string[]> {
    if (messages.length === 0) return [];
    return this.#tx('written', async (c) => {
      const added: string[] = [];
      for (let i = 0; i < messages.length; i += INSERT_CHUNK_ROWS) {
        const chunk = messages.slice(i, i + INSERT_CHUNK_ROWS);
        const args: unknown[] = [];
        for (const m of chunk) {
          const status: MessageStatus = m.filteredReason !== undefined ? 'filtered' : m.sinks.length > 0 ? 'pending' : 'stored';
          args.push(m.id, m.type, m.timestamp, m.body, JSON.stringify(m.headers), m.caller ?? null, receivedAt, m.batchId ?? null, m.route, m.severity ?? null, status, m.filteredReason ?? null);
        }
        // The primary key refuses a replayed id, whichever replica stored it first (first write wins).
        const res = await c.query<{ id: string }>(
          `INSERT INTO messages (${MESSAGE_COLUMNS.join(', ')}) VALUES ${placeholders(chunk.length, MESSAGE_COLUMNS.length)} ON CONFLICT (id) DO NOTHING RETURNING id`,
          args,
        );
        added.push(...res.rows.map((r) => r.id));
      }
      const fresh = new Set(added);
      const rows: unknown[][] = [];
      for (const m of messages) {
        if (!fresh.has(m.id) || m.filteredReason !== undefined) continue;
        fresh.delete(m.id); // the same id twice in one request: one set of deliveries
        for (const sink of m.sinks) rows.push([m.id, sink, 'pending', receivedAt, receivedAt + (deadlineMs.get(sink) ?? 86_400_000), receivedAt]);
      }
      for (let i = 0; i < rows.length; i += INSERT_CHUNK_ROWS) {
        const chunk = rows.slice(i, i + INSERT_CHUNK_ROWS);
        await c.query(`INSERT INTO deliveries (message_id, sink, state, next_attempt_at, deadline_at, updated_at) VALUES ${placeholders(chunk.length, 6)}`, chunk.flat());
      }
      return added;
    });
  }

  async list(options: { readonly limit?: number; readonly after?: string } = {}): Promise<StoredMessage[]> {
    const limit = checkLimit(options.limit, Number.MAX_SAFE_INTEGER, 'MessageStore.list: limit');
    return this.#run('read', async (db) => {
      const res =
        options.after === undefined
          ? await db.query<MessageRow>('SELECT * FROM messages ORDER BY seq LIMIT $1', [limit])
          : await db.query<MessageRow>('SELECT * FROM messages WHERE seq > (SELECT seq FROM messages WHERE id = $1) ORDER BY seq LIMIT $2', [options.after, limit]);
      return res.rows.map(toMessage);
    });
  }

  async count(): Promise<number> {
    return this.#run('read', async (db) => (await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM messages')).rows[0]!.n);
  }

  async query(q: MessageQuery = {}): Promise<MessageSummary[]> {
    const limit = checkLimit(q.limit, MAX_QUERY_LIMIT, 'query: limit');
    const { where, args } = whereOf(q);
    const sql = `SELECT seq, id, type, route, caller, severity, status, length(body) AS bytes, received_at, batch_id FROM messages m ${where}
      ORDER BY seq ${q.order === 'asc' ? 'ASC' : 'DESC'} LIMIT $${args.length + 1}`;
    return this.#run('read', async (db) =>
      (await db.query<Omit<MessageRow, 'body' | 'headers'> & { seq: number; bytes: number }>(sql, [...args, limit])).rows.map((r) =>
        Object.freeze({
          seq: r.seq, id: r.id, type: r.type, route: r.route || undefined, caller: r.caller ?? undefined, severity: isSeverity(r.severity) ? r.severity : undefined,
          status: r.status, bytes: r.bytes, receivedAt: r.received_at, batchId: r.batch_id ?? undefined,
        }),
      ),
    );
  }

  async countByStatus(q: MessageQuery = {}): Promise<Record<MessageStatus, number>> {
    const { where, args } = whereOf({ ...q, status: undefined, beforeSeq: undefined, afterSeq: undefined });
    return this.#run('read', async (db) => {
      const out: Record<MessageStatus, number> = { stored: 0, pending: 0, delivered: 0, dead: 0, filtered: 0 };
      for (const r of (await db.query<{ status: MessageStatus; n: number }>(`SELECT status, COUNT(*) AS n FROM messages m ${where} GROUP BY status`, args)).rows) out[r.status] = r.n;
      return out;
    });
  }

  async get(id: string): Promise<MessageDetail | undefined> {
    return this.#run('read', async (db) => {
      const row = (await db.query<MessageRow>('SELECT * FROM messages WHERE id = $1', [id])).rows[0];
      if (row === undefined) return undefined;
      const deliveries = (await db.query<DeliveryRow>('SELECT * FROM deliveries WHERE message_id = $1 ORDER BY sink COLLATE "C"', [id])).rows;
      const attempts = (await db.query<AttemptRow>('SELECT * FROM attempts WHERE delivery_id = ANY($1) ORDER BY id', [deliveries.map((d) => d.id)])).rows;
      return {
        message: toMessage(row),
        deliveries: deliveries.map((d) => ({ ...toDelivery(d), attemptLog: attempts.filter((a) => a.delivery_id === d.id).map(toAttempt) })),
      };
    });
  }

  // ---- the delivery queue ----

  async claimDue(sink: string, now: number, limit: number): Promise<DeliveryJob[]> {
    return this.#run('written', async (db) => {
      // Due pending deliveries, and deliveries whose holder's lease ran out (it died mid-delivery):
      // those are taken over as possible duplicates. SKIP LOCKED: replicas claiming at once get disjoint rows.
      const rows = (
        await db.query<DeliveryRow>(
          `UPDATE deliveries d SET state = 'inflight', updated_at = $1, claimed_by = $2, lease_until = $3,
             possible_duplicate = d.possible_duplicate OR d.state = 'inflight'
           FROM (SELECT id FROM deliveries WHERE sink = $4
                   AND ((state = 'pending' AND next_attempt_at <= $1) OR (state = 'inflight' AND lease_until <= $1))
                 ORDER BY next_attempt_at, id LIMIT $5 FOR UPDATE SKIP LOCKED) due
           WHERE d.id = due.id RETURNING d.*`,
          [now, this.replicaId, now + this.#leaseMs, sink, limit],
        )
      ).rows;
      if (rows.length === 0) return [];
      rows.sort((a, b) => a.next_attempt_at - b.next_attempt_at || a.id - b.id);
      const messages = new Map(
        (await db.query<MessageRow>('SELECT * FROM messages WHERE id = ANY($1)', [[...new Set(rows.map((r) => r.message_id))]])).rows.map((m) => [m.id, toMessage(m)]),
      );
      return rows.map((d) => ({ delivery: toDelivery(d), message: messages.get(d.message_id)! }));
    });
  }

  /**
   * Group commit, as on SQLite: the attempts finished in one event-loop turn are recorded in one
   * transaction (three statements whatever their number, one commit), each call resolving after
   * it. If the group fails on one bad record, each is retried alone so that only it fails; if the
   * server is unreachable, every call rejects (the worker writes the outcome again).
   */
  finishAttempt(deliveryId: number, r: AttemptResult): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#finishing.push({ deliveryId, r, resolve, reject });
      if (this.#finishing.length === 1) setImmediate(() => void this.#finishWaiting());
    });
  }

  async #finishWaiting(): Promise<void> {
    const group = this.#finishing;
    this.#finishing = [];
    if (group.length > 1) {
      try {
        await this.#finishMany(group);
        for (const w of group) w.resolve();
        return;
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ERR_RECEIVER_STORE_UNAVAILABLE') {
          for (const w of group) w.reject(err);
          return;
        }
        // Rolled back as a whole: one transaction per record below.
      }
    }
    for (const w of group) {
      await this.#finishMany([w]).then(w.resolve, w.reject);
    }
  }

  async #finishMany(items: readonly { readonly deliveryId: number; readonly r: AttemptResult }[]): Promise<void> {
    await this.#tx('written', async (c) => {
      const col = <T>(f: (i: { readonly deliveryId: number; readonly r: AttemptResult }) => T): T[] => items.map(f);
      await c.query(
        `INSERT INTO attempts (delivery_id, started_at, duration_ms, outcome, status, error)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::text[], $5::int[], $6::text[])`,
        [col((i) => i.deliveryId), col((i) => i.r.startedAt), col((i) => i.r.durationMs), col((i) => i.r.outcome), col((i) => i.r.status ?? null), col((i) => i.r.error ?? null)],
      );
      // Only while this process still holds the claim: a claim taken over after its lease is the other
      // replica's now, and a NULL claim means the other replica has already finished it.
      const res = await c.query<{ message_id: string }>(
        `UPDATE deliveries d SET state = u.state, attempts = d.attempts + u.counted, next_attempt_at = coalesce(u.next_at, d.next_attempt_at),
           last_status = u.status, last_error = u.error, updated_at = u.end_at,
           delivered_at = CASE WHEN u.state = 'delivered' THEN u.end_at ELSE d.delivered_at END, claimed_by = NULL, lease_until = NULL
         FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[], $5::int[], $6::text[], $7::bigint[]) AS u (id, state, counted, next_at, status, error, end_at)
         WHERE d.id = u.id AND d.claimed_by = ANY($8) RETURNING d.message_id`,
        [
          col((i) => i.deliveryId), col((i) => i.r.state), col((i) => (i.r.counted === false ? 0 : 1)), col((i) => i.r.nextAttemptAt ?? null),
          col((i) => i.r.status ?? null), col((i) => i.r.error ?? null), col((i) => i.r.startedAt + i.r.durationMs), [...this.#marks],
        ],
      );
      if (res.rows.length > 0) await c.query(REFRESH_STATUS, [[...new Set(res.rows.map((row) => row.message_id))]]);
    });
  }

  async release(deliveryId: number, now: number): Promise<void> {
    await this.#run('written', (db) =>
      db.query("UPDATE deliveries SET state = 'pending', updated_at = $1, claimed_by = NULL, lease_until = NULL WHERE id = $2 AND state = 'inflight' AND claimed_by = ANY($3)", [
        now, deliveryId, [...this.#marks],
      ]),
    );
  }

  async recoverInflight(now: number): Promise<number> {
    // Expired leases, and the claims of this replica's slot: their holder is dead, or this process
    // could not hold the slot's lock. Without a slot, `$2` is NULL and matches no claim.
    return this.#run('written', async (db) =>
      (
        await db.query(
          `UPDATE deliveries SET state = 'pending', possible_duplicate = true, next_attempt_at = least(next_attempt_at, $1), updated_at = $1, claimed_by = NULL, lease_until = NULL
           WHERE state = 'inflight' AND (lease_until IS NULL OR lease_until <= $1 OR claimed_by = $2)`,
          [now, this.#slotLock === undefined ? null : this.#replicaId],
        )
      ).rowCount ?? 0,
    );
  }

  async nextDueAt(sink: string): Promise<number | undefined> {
    return this.#run('read', async (db) => (await db.query<{ at: number | null }>("SELECT min(next_attempt_at) AS at FROM deliveries WHERE sink = $1 AND state = 'pending'", [sink])).rows[0]!.at ?? undefined);
  }

  async pendingCount(sink: string): Promise<number> {
    return this.#run('read', async (db) => (await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM deliveries WHERE sink = $1 AND state = 'pending'", [sink])).rows[0]!.n);
  }

  async deliveryCounts(): Promise<Record<string, Partial<Record<DeliveryState, number>>>> {
    return this.#run('read', async (db) => {
      const out: Record<string, Partial<Record<DeliveryState, number>>> = {};
      for (const r of (await db.query<{ sink: string; state: DeliveryState; n: number }>('SELECT sink, state, COUNT(*) AS n FROM deliveries GROUP BY sink, state')).rows) {
        (out[r.sink] ??= {})[r.state] = r.n;
      }
      return out;
    });
  }

  async lastErrors(): Promise<Record<string, { at: number; error: string }>> {
    return this.#run('read', async (db) => {
      const out: Record<string, { at: number; error: string }> = {};
      const rows = (
        await db.query<{ sink: string; at: number; error: string }>(
          `SELECT DISTINCT ON (d.sink) d.sink AS sink, a.started_at AS at, a.error AS error FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
           WHERE a.error IS NOT NULL AND a.outcome <> 'delivered' ORDER BY d.sink, a.started_at DESC, a.id DESC`,
        )
      ).rows;
      for (const r of rows) out[r.sink] = { at: r.at, error: r.error };
      return out;
    });
  }

  async resubmit(select: ResubmitSelect, now: number, deadlineMs: number): Promise<number> {
    const states = select.states ?? ['pending', 'delivered', 'dead', 'skipped'];
    if (states.includes('inflight')) throw new OptionError('ERR_OPTION_INVALID', 'resubmit: in-flight deliveries cannot be reset');
    const args: unknown[] = [now, now + deadlineMs, [...states]];
    const cond = ['d.state = ANY($3)'];
    if (select.ids !== undefined) {
      args.push([...select.ids]);
      cond.push(`d.message_id = ANY($${args.length})`);
    }
    if (select.since !== undefined) {
      args.push(select.since);
      cond.push(`d.message_id IN (SELECT id FROM messages WHERE received_at >= $${args.length})`);
    }
    if (select.sink !== undefined) {
      args.push(select.sink);
      cond.push(`d.sink = $${args.length}`);
    }
    return this.#tx('written', async (c) => {
      const rows = (
        await c.query<{ message_id: string }>(
          `UPDATE deliveries d SET state = 'pending', next_attempt_at = $1, deadline_at = $2, updated_at = $1 WHERE ${cond.join(' AND ')} RETURNING message_id`,
          args,
        )
      ).rows;
      if (rows.length > 0) await c.query(REFRESH_STATUS, [[...new Set(rows.map((r) => r.message_id))]]);
      return rows.length;
    });
  }

  async addDelivery(messageId: string, sink: string, now: number, deadlineMs: number): Promise<void> {
    await this.#tx('written', async (c) => {
      await c.query(
        `INSERT INTO deliveries (message_id, sink, state, next_attempt_at, deadline_at, updated_at) VALUES ($1, $2, 'pending', $3, $4, $3)
         ON CONFLICT (message_id, sink) DO UPDATE SET state = 'pending', next_attempt_at = excluded.next_attempt_at, deadline_at = excluded.deadline_at`,
        [messageId, sink, now, now + deadlineMs],
      );
      await c.query(REFRESH_STATUS, [[messageId]]);
    });
  }

  async purge(before: number): Promise<PurgeResult> {
    return this.#tx('written', async (c) => {
      const removed =
        (await c.query(`DELETE FROM messages m WHERE received_at < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.state NOT IN ${FINISHED})`, [before]))
          .rowCount ?? 0;
      const keptPending = (await c.query<{ n: number }>('SELECT COUNT(*) AS n FROM messages WHERE received_at < $1', [before])).rows[0]!.n;
      const rejections = (await c.query('DELETE FROM rejections WHERE at < $1', [before])).rowCount ?? 0;
      return { removed, keptPending, rejections };
    });
  }

  // ---- sinks and refusals ----

  async sinkStates(): Promise<SinkState[]> {
    return this.#run('read', async (db) => (await db.query<SinkRow>('SELECT * FROM sink_state ORDER BY name COLLATE "C"')).rows.map(toSinkState));
  }

  async sinkState(name: string): Promise<SinkState | undefined> {
    return this.#run('read', async (db) => {
      const r = (await db.query<SinkRow>('SELECT * FROM sink_state WHERE name = $1', [name])).rows[0];
      return r === undefined ? undefined : toSinkState(r);
    });
  }

  async setSinkState(name: string, state: 'active' | 'disabled', reason: string | undefined, now: number): Promise<void> {
    await this.#run('written', (db) =>
      db.query(
        'INSERT INTO sink_state (name, state, reason, changed_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET state = excluded.state, reason = excluded.reason, changed_at = excluded.changed_at',
        [name, state, reason ?? null, now],
      ),
    );
  }

  async recordRejections(list: readonly Rejection[]): Promise<void> {
    if (list.length === 0) return;
    await this.#run('written', async (db) => {
      for (let i = 0; i < list.length; i += INSERT_CHUNK_ROWS) {
        const chunk = list.slice(i, i + INSERT_CHUNK_ROWS);
        await db.query(
          `INSERT INTO rejections (at, request_id, caller, route, status, code) VALUES ${placeholders(chunk.length, 6)}`,
          chunk.flatMap((r) => [r.at, r.requestId ?? null, r.caller ?? null, r.route ?? null, r.status, r.code]),
        );
      }
    });
  }

  async rejections(options: { readonly since?: number; readonly limit?: number } = {}): Promise<Rejection[]> {
    const limit = checkLimit(options.limit, MAX_QUERY_LIMIT, 'rejections: limit');
    return this.#run('read', async (db) =>
      (
        await db.query<{ at: number; request_id: string | null; caller: string | null; route: string | null; status: number; code: string }>(
          'SELECT * FROM rejections WHERE at >= $1 ORDER BY id DESC LIMIT $2',
          [options.since ?? 0, limit],
        )
      ).rows.map((r) => Object.freeze({ at: r.at, requestId: r.request_id ?? undefined, caller: r.caller ?? undefined, route: r.route ?? undefined, status: r.status, code: r.code })),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Attempts already finished are recorded (or fail) before the pool ends, not dropped.
    await this.#finishWaiting();
    this.#closed = true;
    await this.#pool.end();
    await this.#slotLock?.end().catch(() => undefined);
  }

  async #run<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T> {
    if (this.#closed) throw new ReceiverError('ERR_RECEIVER_STORE_FAILED', `the message store ${this.location} is closed`, { statusCode: 500 });
    try {
      return await fn(this.#pool);
    } catch (cause) {
      if (cause instanceof OptionError) throw cause;
      throw pgStoreError(this.location, what, cause);
    }
  }

  /** `fn` in one transaction on one connection; rolled back on any error. */
  async #tx<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#run(what, async () => {
      const c = await this.#pool.connect();
      let broken: Error | undefined;
      // A checked-out connection that dies (server restart) emits 'error'; unheard, that would
      // crash the process. The failing query rejects as well, which is what the caller sees.
      const onError = (err: Error): void => {
        broken = err;
      };
      c.on('error', onError);
      try {
        await c.query('BEGIN');
        const out = await fn(c);
        await c.query('COMMIT');
        return out;
      } catch (err) {
        // A connection that failed is dropped from the pool rather than reused.
        if (isUnavailable(err)) broken = err as Error;
        else await c.query('ROLLBACK').catch((e: unknown) => void (broken = e as Error));
        throw err;
      } finally {
        c.off('error', onError);
        c.release(broken);
      }
    });
  }
}

interface AttemptRow {
  delivery_id: number; started_at: number; duration_ms: number; outcome: string; status: number | null; error: string | null;
}
interface SinkRow {
  name: string; state: 'active' | 'disabled'; reason: string | null; changed_at: number;
}

function toAttempt(r: AttemptRow): Attempt {
  return Object.freeze({ deliveryId: r.delivery_id, startedAt: r.started_at, durationMs: r.duration_ms, outcome: r.outcome, status: r.status ?? undefined, error: r.error ?? undefined });
}

function toSinkState(r: SinkRow): SinkState {
  return Object.freeze({ name: r.name, state: r.state, reason: r.reason ?? undefined, changedAt: r.changed_at });
}

function whereOf(q: MessageQuery): { where: string; args: unknown[] } {
  const cond: string[] = [];
  const args: unknown[] = [];
  const add = (sql: string, value: unknown): void => {
    args.push(value);
    cond.push(sql.replace('?', `$${args.length}`));
  };
  if (q.since !== undefined) add('m.received_at >= ?', q.since);
  if (q.until !== undefined) add('m.received_at < ?', q.until);
  if (q.status !== undefined) add('m.status = ?', q.status);
  if (q.route !== undefined) add('m.route = ?', q.route);
  if (q.type !== undefined) add('m.type = ?', q.type);
  if (q.sink !== undefined) add('EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.sink = ?)', q.sink);
  // starts_with, not a range: a range on text depends on the database's collation.
  if (q.idPrefix !== undefined && q.idPrefix !== '') add('starts_with(m.id, ?)', q.idPrefix);
  if (q.beforeSeq !== undefined) add('m.seq < ?', q.beforeSeq);
  if (q.afterSeq !== undefined) add('m.seq > ?', q.afterSeq);
  return { where: cond.length === 0 ? '' : `WHERE ${cond.join(' AND ')}`, args };
}


/** The fabric's persistent state in SQLite: identities, services, service policies, API and service sessions. */
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { openSqlite, StatementCache } from '../core/sqlite.js';
import { FabricError } from '../core/index.js';
import { checkAttributes, checkName, checkPolicyType, checkRoles, grants } from './roles.js';
import { apiSessionOf, type FabricApiSession, type FabricIdentity, type FabricPolicy, type FabricService, identityOf, policyOf, type Row, SCHEMA, serviceOf } from './store-schema.js';

/** How long a writer waits for another process's lock before failing, in milliseconds. */
export const STORE_BUSY_TIMEOUT_MS = 5000;
/** Name of the database file inside the fabric home. */
export const STORE_FILE = 'fabric.db';

export type { FabricApiSession, FabricIdentity, FabricPolicy, FabricService } from './store-schema.js';
/** A service session (Dial or Bind) an edge router accepts in Connect/Bind. */
export interface FabricSession {
  id: string;
  token: string;
  apiSessionId: string;
  identityId: string;
  serviceId: string;
  type: 'Dial' | 'Bind';
}
/** Where the running fabric actually listens (ephemeral ports resolved), recorded for other processes. */
export interface FabricRuntime {
  ctrlUrl: string;
  routerAddress: string;
  pid: number;
}


/**
 * The fabric database at `<home>/fabric.db` (WAL, busy timeout, foreign keys). Every method reads the
 * database itself (no in-process cache), so a management command run by another process — the CLI
 * opens the same file — takes effect at once in a running fabric. Methods are synchronous.
 *
 * @example
 * const store = FabricStore.open(home);
 * const id = store.createIdentity({ name: 'sender', roleAttributes: ['senders'] });
 */
export class FabricStore {
  readonly #db: Database.Database;
  /** Prepared statements by SQL text: the router asks on every hello, dial and bind. */
  readonly #statements: StatementCache;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#statements = new StatementCache(db);
  }

  /** The prepared statement for `sql`, prepared once per store. */
  #stmt(sql: string): Database.Statement {
    return this.#statements.get(sql);
  }

  /**
   * Open (creating if needed) the database in `home`, which must exist.
   * @throws ERR_FABRIC_STORE_FAILED when the file cannot be opened or migrated
   */
  static open(home: string): FabricStore {
    const path = join(home, STORE_FILE);
    let db: Database.Database;
    try {
      db = openSqlite(path, {
        busyTimeoutMs: STORE_BUSY_TIMEOUT_MS,
        foreignKeys: true,
        synchronous: 'NORMAL',
        migrations: [
          (d) => {
            d.exec(SCHEMA);
            d.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('services_changed_at', ?)").run(String(Date.now()));
          },
        ],
        tooNew: (version) => new FabricError('ERR_FABRIC_STORE_FAILED', `${path} was written by a newer darkhook (schema ${version})`),
      });
    } catch (cause) {
      if (cause instanceof FabricError) throw cause;
      throw new FabricError('ERR_FABRIC_STORE_FAILED', `${path} could not be opened`, { cause });
    }
    return new FabricStore(db);
  }

  /** Close the database; further calls throw. */
  close(): void {
    if (this.#db.open) this.#db.close();
  }

  // identities

  /**
   * Create an identity (not yet enrolled).
   * @throws ERR_FABRIC_NAME_TAKEN, ERR_FABRIC_NAME_INVALID
   */
  createIdentity(input: { name: string; roleAttributes?: string[] }): FabricIdentity {
    const name = checkName(input.name, 'identity name');
    const attrs = checkAttributes(input.roleAttributes ?? []);
    const id = newId();
    this.#write(() => {
      this.#stmt('INSERT INTO identities (id, name, role_attributes, created_at) VALUES (?, ?, ?, ?)')
        .run(id, name, JSON.stringify(attrs), Date.now());
      this.#servicesChanged();
    }, `identity "${name}"`);
    return this.identity(id)!;
  }

  /** Delete an identity by name or id, with its API sessions and sessions. False when there was none. */
  deleteIdentity(nameOrId: string): boolean {
    const found = this.identity(nameOrId);
    if (found === undefined) return false;
    return this.#write(() => {
      const r = this.#stmt('DELETE FROM identities WHERE id = ?').run(found.id);
      if (r.changes > 0) this.#servicesChanged();
      return r.changes > 0;
    });
  }

  /** An identity by name or id. */
  identity(nameOrId: string): FabricIdentity | undefined {
    const row = this.#read(() => this.#stmt('SELECT * FROM identities WHERE id = ? OR name = ? ORDER BY id = ? DESC').get(nameOrId, nameOrId, nameOrId));
    return row === undefined ? undefined : identityOf(row as Row);
  }

  /** Every identity, by name. */
  listIdentities(): FabricIdentity[] {
    return this.#read(() => this.#stmt('SELECT * FROM identities ORDER BY name').all() as Row[]).map(identityOf);
  }

  /** Attach a one-time enrollment token (its JWT `jti`) valid until `expiresAt`. */
  setEnrollment(identityId: string, jti: string, expiresAt: Date): void {
    this.#write(() => {
      this.#stmt('UPDATE identities SET enrollment_jti = ?, enrollment_expires_at = ? WHERE id = ?').run(jti, expiresAt.getTime(), identityId);
    });
  }

  /** The pending enrollment with this `jti`, expired or not (to tell "unknown" from "expired"). */
  enrollment(jti: string): { identity: FabricIdentity; expiresAt: Date } | undefined {
    const row = this.#read(() => this.#stmt('SELECT * FROM identities WHERE enrollment_jti = ?').get(jti)) as Row | undefined;
    return row === undefined ? undefined : { identity: identityOf(row), expiresAt: new Date(Number(row['enrollment_expires_at'])) };
  }

  /**
   * Burn an enrollment token atomically: of two concurrent callers only one gets the identity.
   * Undefined when the token is unknown, already used or expired at `now`.
   */
  consumeEnrollment(jti: string, now: Date = new Date()): FabricIdentity | undefined {
    const row = this.#write(
      () =>
        this.#stmt(
            'UPDATE identities SET enrollment_jti = NULL, enrollment_expires_at = NULL WHERE enrollment_jti = ? AND enrollment_expires_at > ? RETURNING *',
          )
          .get(jti, now.getTime()) as Row | undefined,
    );
    return row === undefined ? undefined : identityOf(row);
  }

  /**
   * Burn the token and record the certificate in one transaction; undefined (nothing changed) when the
   * token is unknown, used or expired.
   */
  completeEnrollment(jti: string, certPem: string, certSha1: string, now: Date = new Date()): FabricIdentity | undefined {
    return this.#write(() =>
      this.#db.transaction(() => {
        const burnt = this.consumeEnrollment(jti, now);
        if (burnt === undefined) return undefined;
        this.setIdentityCertificate(burnt.id, certPem, certSha1);
        return this.identity(burnt.id);
      })(),
    );
  }

  /** Record the identity's certificate; it authenticates by the certificate's SHA-1 from now on. */
  setIdentityCertificate(identityId: string, certPem: string, certSha1: string): void {
    this.#write(() => {
      this.#stmt('UPDATE identities SET cert_pem = ?, cert_sha1 = ? WHERE id = ?').run(certPem, certSha1.toLowerCase(), identityId);
    });
  }

  /** The identity whose certificate has this SHA-1 (lowercase hex, no colons). */
  identityByCertSha1(sha1: string): FabricIdentity | undefined {
    const row = this.#read(() => this.#stmt('SELECT * FROM identities WHERE cert_sha1 = ?').get(sha1.toLowerCase()));
    return row === undefined ? undefined : identityOf(row as Row);
  }

  // services

  /**
   * Create a service; `encryptionRequired` defaults to true (as `ziti edge create service`).
   * @throws ERR_FABRIC_NAME_TAKEN, ERR_FABRIC_NAME_INVALID
   */
  createService(input: { name: string; roleAttributes?: string[]; encryptionRequired?: boolean }): FabricService {
    const name = checkName(input.name, 'service name');
    const attrs = checkAttributes(input.roleAttributes ?? []);
    const id = newId();
    this.#write(() => {
      this.#stmt('INSERT INTO services (id, name, role_attributes, encryption_required, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(id, name, JSON.stringify(attrs), input.encryptionRequired === false ? 0 : 1, Date.now());
      this.#servicesChanged();
    }, `service "${name}"`);
    return this.service(id)!;
  }

  /** Delete a service by name or id, with its sessions. False when there was none. */
  deleteService(nameOrId: string): boolean {
    const found = this.#idOf('services', nameOrId);
    if (found === undefined) return false;
    return this.#write(() => {
      const r = this.#stmt('DELETE FROM services WHERE id = ?').run(found);
      if (r.changes > 0) this.#servicesChanged();
      return r.changes > 0;
    });
  }

  /** A service by name or id. */
  service(nameOrId: string): FabricService | undefined {
    const row = this.#read(() => this.#stmt('SELECT * FROM services WHERE id = ? OR name = ? ORDER BY id = ? DESC').get(nameOrId, nameOrId, nameOrId));
    return row === undefined ? undefined : serviceOf(row as Row);
  }

  /** Every service, by name. */
  listServices(): FabricService[] {
    return this.#read(() => this.#stmt('SELECT * FROM services ORDER BY name').all() as Row[]).map(serviceOf);
  }

  // policies

  /**
   * Create a service policy. Roles: `#attribute`, `#all`, `@name` or `@id`; a policy matches an entity
   * when any one role does (OpenZiti's `AnyOf` semantic, the `ziti` CLI default).
   * @throws ERR_FABRIC_NAME_TAKEN, ERR_FABRIC_NAME_INVALID, ERR_FABRIC_POLICY_INVALID
   */
  createPolicy(input: { name: string; type: 'Dial' | 'Bind'; identityRoles: string[]; serviceRoles: string[] }): FabricPolicy {
    const name = checkName(input.name, 'policy name');
    const type = checkPolicyType(input.type);
    const identityRoles = checkRoles(input.identityRoles, 'identity roles');
    const serviceRoles = checkRoles(input.serviceRoles, 'service roles');
    const id = newId();
    this.#write(() => {
      this.#stmt('INSERT INTO policies (id, name, type, identity_roles, service_roles, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(id, name, type, JSON.stringify(identityRoles), JSON.stringify(serviceRoles), Date.now());
      this.#servicesChanged();
    }, `policy "${name}"`);
    return { id, name, type, identityRoles, serviceRoles };
  }

  /** Delete a policy by name or id. False when there was none. */
  deletePolicy(nameOrId: string): boolean {
    const found = this.#idOf('policies', nameOrId);
    if (found === undefined) return false;
    return this.#write(() => {
      const r = this.#stmt('DELETE FROM policies WHERE id = ?').run(found);
      if (r.changes > 0) this.#servicesChanged();
      return r.changes > 0;
    });
  }

  /** Every policy, by name. */
  listPolicies(): FabricPolicy[] {
    return this.#read(() => this.#stmt('SELECT * FROM policies ORDER BY name').all() as Row[]).map(policyOf);
  }

  /** What the policies grant this identity on this service, e.g. `['Bind', 'Dial']`; empty when nothing. */
  permissions(identityId: string, serviceId: string): ('Dial' | 'Bind')[] {
    const identity = this.identity(identityId);
    const service = this.service(serviceId);
    if (identity === undefined || service === undefined || identity.id !== identityId || service.id !== serviceId) return [];
    return grants(this.listPolicies(), identity, service);
  }

  /** Every service the identity has some permission on, with those permissions, by name. */
  servicesFor(identityId: string): { service: FabricService; permissions: ('Dial' | 'Bind')[] }[] {
    const identity = this.identity(identityId);
    if (identity === undefined || identity.id !== identityId) return [];
    const policies = this.listPolicies();
    return this.listServices()
      .map((service) => ({ service, permissions: grants(policies, identity, service) }))
      .filter((s) => s.permissions.length > 0);
  }

  // API sessions and service sessions

  /** Start an API session for an authenticated identity; the token is a random UUID. */
  createApiSession(identityId: string, certSha1: string, ttlMs: number): FabricApiSession {
    const now = Date.now();
    const session: FabricApiSession = {
      id: newId(),
      token: randomUUID(),
      identityId,
      certSha1: certSha1.toLowerCase(),
      expiresAt: new Date(now + ttlMs),
      lastActivityAt: new Date(now),
    };
    this.#write(() => {
      // Expired sessions are useless; dropping them here keeps the table small without a timer.
      this.#stmt('DELETE FROM api_sessions WHERE expires_at <= ?').run(now);
      this.#stmt('INSERT INTO api_sessions (id, token, identity_id, cert_sha1, expires_at, last_activity_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(session.id, session.token, identityId, session.certSha1, session.expiresAt.getTime(), now);
    });
    return session;
  }

  /** The live API session with this token; undefined when unknown, expired, or its identity is deleted. */
  apiSessionByToken(token: string): FabricApiSession | undefined {
    const row = this.#read(() => this.#stmt('SELECT * FROM api_sessions WHERE token = ? AND expires_at > ?').get(token, Date.now()));
    return row === undefined ? undefined : apiSessionOf(row as Row);
  }

  /** Record activity on a live API session: it now expires `ttlMs` from now. Undefined when not live. */
  touchApiSession(token: string, ttlMs: number): FabricApiSession | undefined {
    const now = Date.now();
    const row = this.#write(() =>
      this.#stmt('UPDATE api_sessions SET last_activity_at = ?, expires_at = ? WHERE token = ? AND expires_at > ? RETURNING *')
        .get(now, now + ttlMs, token, now),
    );
    return row === undefined ? undefined : apiSessionOf(row as Row);
  }

  /** End an API session and its service sessions (logout). */
  deleteApiSession(token: string): void {
    this.#write(() => {
      this.#stmt('DELETE FROM api_sessions WHERE token = ?').run(token);
    });
  }

  /** Create a service session under an API session. Permission is the caller's check (see `permissions`). */
  createSession(apiSessionId: string, serviceId: string, type: 'Dial' | 'Bind'): FabricSession {
    return this.#write(() => {
      const api = this.#stmt('SELECT identity_id FROM api_sessions WHERE id = ?').get(apiSessionId) as Row | undefined;
      if (api === undefined) throw new FabricError('ERR_FABRIC_NOT_FOUND', 'the API session no longer exists');
      const session: FabricSession = { id: newId(), token: randomUUID(), apiSessionId, identityId: String(api['identity_id']), serviceId, type };
      this.#stmt('INSERT INTO sessions (id, token, api_session_id, identity_id, service_id, type) VALUES (?, ?, ?, ?, ?, ?)')
        .run(session.id, session.token, apiSessionId, session.identityId, serviceId, type);
      return session;
    });
  }

  /** The session with this token; undefined when unknown or its API session is gone or expired. */
  sessionByToken(token: string): FabricSession | undefined {
    const row = this.#read(() =>
      this.#stmt('SELECT s.* FROM sessions s JOIN api_sessions a ON a.id = s.api_session_id WHERE s.token = ? AND a.expires_at > ?')
        .get(token, Date.now()),
    ) as Row | undefined;
    if (row === undefined) return undefined;
    return {
      id: String(row['id']),
      token: String(row['token']),
      apiSessionId: String(row['api_session_id']),
      identityId: String(row['identity_id']),
      serviceId: String(row['service_id']),
      type: row['type'] === 'Bind' ? 'Bind' : 'Dial',
    };
  }

  /** When services, policies or identities last changed (SDKs poll this to refetch services). */
  servicesChangedAt(): Date {
    const row = this.#read(() => this.#stmt("SELECT value FROM meta WHERE key = 'services_changed_at'").get()) as Row | undefined;
    return new Date(Number(row?.['value'] ?? 0));
  }

  /** Record (or with `undefined`, clear) where the running fabric listens. */
  setRuntime(runtime: FabricRuntime | undefined): void {
    this.#write(() => {
      if (runtime === undefined) this.#stmt("DELETE FROM meta WHERE key = 'runtime'").run();
      else this.#stmt("INSERT OR REPLACE INTO meta (key, value) VALUES ('runtime', ?)").run(JSON.stringify(runtime));
    });
  }

  /** Where the fabric of this home said it listens, if it recorded it (it may have died since). */
  runtime(): FabricRuntime | undefined {
    const row = this.#read(() => this.#stmt("SELECT value FROM meta WHERE key = 'runtime'").get()) as Row | undefined;
    return row === undefined ? undefined : (JSON.parse(String(row['value'])) as FabricRuntime);
  }

  /** The id of the row whose id (preferred) or name is `nameOrId`. */
  #idOf(table: 'services' | 'policies', nameOrId: string): string | undefined {
    const row = this.#read(() => this.#stmt(`SELECT id FROM ${table} WHERE id = ? OR name = ? ORDER BY id = ? DESC`).get(nameOrId, nameOrId, nameOrId)) as
      | Row
      | undefined;
    return row === undefined ? undefined : String(row['id']);
  }

  #servicesChanged(): void {
    this.#stmt("INSERT OR REPLACE INTO meta (key, value) VALUES ('services_changed_at', ?)").run(String(Date.now()));
  }

  #read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (cause) {
      throw storeError(cause);
    }
  }

  #write<T>(fn: () => T, what?: string): T {
    try {
      return fn();
    } catch (cause) {
      if (what !== undefined && (cause as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new FabricError('ERR_FABRIC_NAME_TAKEN', `${what} already exists`, { cause });
      }
      throw storeError(cause);
    }
  }
}

function storeError(cause: unknown): FabricError {
  if (cause instanceof FabricError) return cause;
  return new FabricError('ERR_FABRIC_STORE_FAILED', `fabric database: ${(cause as Error).message}`, { cause });
}

/** Short random ids (base62, 10 characters), like OpenZiti's shortids. */
function newId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let id = '';
  // 248 = 4 * 62: rejecting bytes above it keeps every character equally likely.
  while (id.length < 10) for (const b of randomBytes(16)) if (b < 248 && id.length < 10) id += alphabet[b % 62];
  return id;
}


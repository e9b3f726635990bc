/** The fabric database schema, the store objects, and the mapping of rows to them. */

/** An identity: a name, role attributes, and (once enrolled) the SHA-1 of its certificate. */
export interface FabricIdentity {
  id: string;
  name: string;
  roleAttributes: string[];
  certSha1: string | undefined;
  enrolled: boolean;
  createdAt: Date;
}
/** A service; `encryptionRequired` makes routers refuse dials without end-to-end keys. */
export interface FabricService {
  id: string;
  name: string;
  roleAttributes: string[];
  encryptionRequired: boolean;
}
/** A service policy granting Dial or Bind to the identities matching `identityRoles` on services matching `serviceRoles`. */
export interface FabricPolicy {
  id: string;
  name: string;
  type: 'Dial' | 'Bind';
  identityRoles: string[];
  serviceRoles: string[];
}
/** An authenticated API session; `token` is the `zt-session` value and the router hello token. */
export interface FabricApiSession {
  id: string;
  token: string;
  identityId: string;
  certSha1: string;
  expiresAt: Date;
  lastActivityAt: Date;
}

/** A row as better-sqlite3 returns it. */
export type Row = Record<string, unknown>;

/** Schema version 1 (kept in `PRAGMA user_version`); every statement is idempotent. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS identities (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  role_attributes TEXT NOT NULL,
  cert_pem TEXT,
  cert_sha1 TEXT UNIQUE,
  enrollment_jti TEXT UNIQUE,
  enrollment_expires_at INTEGER,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS services (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  role_attributes TEXT NOT NULL,
  encryption_required INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS policies (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL CHECK (type IN ('Dial', 'Bind')),
  identity_roles TEXT NOT NULL,
  service_roles TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_sessions (
  id TEXT PRIMARY KEY,
  token TEXT NOT NULL UNIQUE,
  identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
  cert_sha1 TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  last_activity_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS api_sessions_identity ON api_sessions(identity_id);
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  token TEXT NOT NULL UNIQUE,
  api_session_id TEXT NOT NULL REFERENCES api_sessions(id) ON DELETE CASCADE,
  identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
  service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
  type TEXT NOT NULL CHECK (type IN ('Dial', 'Bind'))
);
CREATE INDEX IF NOT EXISTS sessions_api_session ON sessions(api_session_id);
CREATE INDEX IF NOT EXISTS sessions_service ON sessions(service_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** A `identity` row as the store's object. */
export function identityOf(row: Row): FabricIdentity {
  const sha1 = row['cert_sha1'];
  return {
    id: String(row['id']),
    name: String(row['name']),
    roleAttributes: JSON.parse(String(row['role_attributes'])) as string[],
    certSha1: typeof sha1 === 'string' ? sha1 : undefined,
    enrolled: typeof sha1 === 'string',
    createdAt: new Date(Number(row['created_at'])),
  };
}

/** A `service` row as the store's object. */
export function serviceOf(row: Row): FabricService {
  return {
    id: String(row['id']),
    name: String(row['name']),
    roleAttributes: JSON.parse(String(row['role_attributes'])) as string[],
    encryptionRequired: Number(row['encryption_required']) === 1,
  };
}

/** A `policy` row as the store's object. */
export function policyOf(row: Row): FabricPolicy {
  return {
    id: String(row['id']),
    name: String(row['name']),
    type: row['type'] === 'Bind' ? 'Bind' : 'Dial',
    identityRoles: JSON.parse(String(row['identity_roles'])) as string[],
    serviceRoles: JSON.parse(String(row['service_roles'])) as string[],
  };
}

/** A `apiSession` row as the store's object. */
export function apiSessionOf(row: Row): FabricApiSession {
  return {
    id: String(row['id']),
    token: String(row['token']),
    identityId: String(row['identity_id']),
    certSha1: String(row['cert_sha1']),
    expiresAt: new Date(Number(row['expires_at'])),
    lastActivityAt: new Date(Number(row['last_activity_at'])),
  };
}

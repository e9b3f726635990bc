/** Admin page sessions: a random id in an HttpOnly SameSite=Strict cookie, kept in memory with a CSRF token and an expiry. */
import { randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../../core/constant-time.js';

/** The session cookie's name. */
export const SESSION_COOKIE = 'darkhook_admin';
/** The header a page sends its CSRF token in, on every state-changing request. */
export const CSRF_HEADER = 'x-darkhook-csrf';
/** How long a session lasts after login, in milliseconds (8 hours; no sliding renewal). */
export const DEFAULT_SESSION_TTL_MS = 8 * 3_600_000;
/** Most sessions kept at once; the oldest is dropped beyond that, so a login loop cannot grow memory. */
export const MAX_SESSIONS = 64;

/** One logged-in browser. */
export interface Session {
  readonly id: string;
  readonly csrf: string;
  readonly expiresAt: number;
}

/** The value of one cookie in a `Cookie` header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Sessions of one admin listener (a restart logs everyone out, which is fine for a loopback page). */
export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #now: () => number;
  readonly #ttlMs: number;

  constructor(now: () => number, ttlMs: number = DEFAULT_SESSION_TTL_MS) {
    this.#now = now;
    this.#ttlMs = ttlMs;
  }

  /** Start a session (after the token was checked). */
  create(): Session {
    this.#sweep();
    while (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    const s = Object.freeze({ id: randomBytes(32).toString('base64url'), csrf: randomBytes(32).toString('base64url'), expiresAt: this.#now() + this.#ttlMs });
    this.#sessions.set(s.id, s);
    return s;
  }

  /** The live session named by a cookie value, or undefined (unknown or expired). */
  get(id: string | undefined): Session | undefined {
    if (id === undefined || id === '') return undefined;
    const s = this.#sessions.get(id);
    if (s === undefined) return undefined;
    if (s.expiresAt <= this.#now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return s;
  }

  /** True when `token` is this session's CSRF token (constant time). */
  csrfMatches(s: Session, token: unknown): boolean {
    return typeof token === 'string' && constantTimeEqual(token, s.csrf);
  }

  /** End a session (logout). */
  delete(id: string): void {
    this.#sessions.delete(id);
  }

  /** Seconds a new session's cookie lives. */
  get maxAgeSeconds(): number {
    return Math.floor(this.#ttlMs / 1000);
  }

  #sweep(): void {
    const now = this.#now();
    for (const [id, s] of this.#sessions) if (s.expiresAt <= now) this.#sessions.delete(id);
  }
}

/**
 * Session policy over the session store: ids, cookies, idle and absolute timeouts.
 *
 * - A new 256-bit id at every sign-in (the old session, if any, is deleted): no fixation.
 * - Idle timeout slides, but the store is written at most once per SLIDE_WRITE_INTERVAL, so a busy
 *   user does not cost a write per request.
 * - Anything wrong with the cookie (missing, malformed, unknown, expired) reads as "signed out".
 */
import { randomBytes } from 'node:crypto';
import type { Cookie, HttpRequest } from '@azure/functions';
import type { Clock } from '../clock';
import { parseCookieHeader } from '../http/cookies';
import { hashSessionId, type SessionRecord, type SessionStore } from './session-store';

export const SESSION_COOKIE = '__Host-session';
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
export const SLIDE_WRITE_INTERVAL_MS = 60 * 60 * 1000;

export interface SessionPolicy {
  readonly idleTimeoutSeconds: number;
  readonly absoluteTimeoutSeconds: number;
}

export interface Profile {
  readonly homeAccountId: string;
  readonly name: string;
  readonly username: string;
  readonly tenantId: string;
  readonly logoutHint?: string;
}

export interface ActiveSession extends SessionRecord {
  /** The stored hash, never the id itself. */
  readonly idHash: string;
}

export class Sessions {
  constructor(
    private readonly store: SessionStore,
    private readonly policy: SessionPolicy,
    private readonly clock: Clock,
  ) {}

  /** Starts a session for a fresh sign-in; returns the cookie to set. */
  async start(profile: Profile, request: HttpRequest): Promise<Cookie> {
    const previous = this.idHashFrom(request);
    if (previous) await this.store.delete(previous);
    const id = randomBytes(32).toString('base64url');
    const now = this.clock();
    await this.store.create(hashSessionId(id), {
      ...profile,
      createdAt: now,
      lastSeenAt: now,
      idleExpiresAt: now + this.policy.idleTimeoutSeconds * 1000,
      absoluteExpiresAt: now + this.policy.absoluteTimeoutSeconds * 1000,
    });
    return sessionCookie(id, this.policy.absoluteTimeoutSeconds);
  }

  /** The signed-in session, or undefined. Expired sessions are deleted on sight. */
  async current(request: HttpRequest): Promise<ActiveSession | undefined> {
    const idHash = this.idHashFrom(request);
    if (!idHash) return undefined;
    const record = await this.store.get(idHash);
    if (!record) return undefined;
    const now = this.clock();
    if (now >= record.idleExpiresAt || now >= record.absoluteExpiresAt) {
      await this.store.delete(idHash);
      return undefined;
    }
    if (now - record.lastSeenAt >= SLIDE_WRITE_INTERVAL_MS) {
      const idleExpiresAt = Math.min(now + this.policy.idleTimeoutSeconds * 1000, record.absoluteExpiresAt);
      await this.store.touch(idHash, now, idleExpiresAt);
      return { ...record, lastSeenAt: now, idleExpiresAt, idHash };
    }
    return { ...record, idHash };
  }

  /** Ends this session; resolves true when it was the account's last one on any device. */
  async end(session: ActiveSession): Promise<boolean> {
    await this.store.delete(session.idHash);
    return (await this.store.countLiveForAccount(session.homeAccountId, this.clock())) === 0;
  }

  /** Every session of the account, on every device. */
  async endAll(homeAccountId: string): Promise<number> {
    return this.store.deleteAllForAccount(homeAccountId);
  }

  private idHashFrom(request: HttpRequest): string | undefined {
    const id = parseCookieHeader(request.headers.get('cookie')).get(SESSION_COOKIE);
    return id && SESSION_ID.test(id) ? hashSessionId(id) : undefined;
  }
}

export function sessionCookie(id: string, maxAgeSeconds: number): Cookie {
  return { name: SESSION_COOKIE, value: id, path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: maxAgeSeconds };
}

export function clearSessionCookie(): Cookie {
  return { name: SESSION_COOKIE, value: '', path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: 0 };
}

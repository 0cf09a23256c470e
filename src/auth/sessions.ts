/**
 * Session policy over the session store: ids, cookies, idle and absolute timeouts.
 *
 * - A new 256-bit id at every sign-in (the old session, if any, is deleted): no fixation.
 * - Idle timeout slides, but the store is written at most once per SLIDE_WRITE_INTERVAL, so a busy
 *   user does not cost a write per request.
 * - Anything wrong with the cookie (missing, malformed, not signed by this app, unknown, expired)
 *   reads as "signed out"; a cookie this app did not sign costs no storage (session-cookie.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Cookie, HttpRequest } from '@azure/functions';
import type { Clock } from '../clock';
import { deviceLabel } from './device-label';
import { SESSION_COOKIE, type SessionCookies } from './session-cookie';
import { hashSid } from './session-row';
import { hashSessionId, type SessionRecord, type SessionRef, type SessionStore } from './session-store';

export { SESSION_COOKIE };
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
  /** The ID token's `sid` claim: front-channel sign-out names the sign-in by it. Stored hashed. */
  readonly sid?: string;
}

/** One of the account's devices, as "Your devices" shows it (GET /api/sessions). */
export interface DeviceView {
  /** An opaque handle (sessionHandle): never the cookie's secret, and no way back to it. */
  readonly id: string;
  readonly current: boolean;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly device: string;
}

export interface StartedSession {
  /** The cookie to set. */
  readonly cookie: Cookie;
  readonly ref: SessionRef;
  /** The session this browser's cookie named before, still in place: see `endReplaced`. */
  readonly previous: SessionRef | undefined;
}

export interface ActiveSession extends SessionRecord {
  /** The account and the stored hash, never the id itself. */
  readonly ref: SessionRef;
}

export class Sessions {
  constructor(
    private readonly store: SessionStore,
    private readonly policy: SessionPolicy,
    private readonly clock: Clock,
    /** Signs and verifies the cookie's value (`<id>.<homeAccountId>.<mac>.<kid>`). */
    private readonly cookies: SessionCookies,
  ) {}

  /**
   * Starts a session for a fresh sign-in. The one this browser had stays until `endReplaced`, once
   * the sign-in has stored its tokens: a sign-in that fails leaves the browser as it was.
   */
  async start(profile: Profile, request: HttpRequest): Promise<StartedSession> {
    const previous = await this.ref(request);
    const id = randomBytes(32).toString('base64url');
    const now = this.clock();
    const ref = { homeAccountId: profile.homeAccountId, idHash: hashSessionId(id) };
    const { sid, ...rest } = profile;
    await this.store.create(ref, {
      ...rest,
      device: deviceLabel(request.headers.get('user-agent')),
      ...(sid ? { sidHash: hashSid(sid) } : {}),
      createdAt: now,
      lastSeenAt: now,
      idleExpiresAt: now + this.policy.idleTimeoutSeconds * 1000,
      absoluteExpiresAt: now + this.policy.absoluteTimeoutSeconds * 1000,
    });
    return {
      cookie: sessionCookie(await this.cookies.value(id, profile.homeAccountId), this.policy.absoluteTimeoutSeconds),
      ref,
      previous,
    };
  }

  /**
   * Ends the session a new one replaced; resolves its account if it existed. Only a session that
   * existed counts: the account in a cookie is not a secret.
   */
  async endReplaced(previous: SessionRef): Promise<string | undefined> {
    const existed = await this.store.get(previous);
    await this.store.delete(previous, existed);
    return existed === undefined ? undefined : previous.homeAccountId;
  }


  /** The signed-in session, or undefined. Expired sessions are deleted on sight. */
  async current(request: HttpRequest): Promise<ActiveSession | undefined> {
    return (await this.#current(request, false))?.session;
  }

  /**
   * The signed-in session as `current` finds it, but a remembered one comes with its storage
   * confirmation still under way (session-memory.ts `getUnconfirmed`): the caller overlaps that
   * round trip with its own work, and awaits `confirmed` before it answers or acts on the session.
   */
  async currentUnconfirmed(request: HttpRequest): Promise<{ session: ActiveSession; confirmed: Promise<boolean> } | undefined> {
    return this.#current(request, true);
  }

  async #current(request: HttpRequest, unconfirmed: boolean): Promise<{ session: ActiveSession; confirmed: Promise<boolean> } | undefined> {
    const ref = await this.ref(request);
    if (!ref) return undefined;
    const read =
      unconfirmed && this.store.getUnconfirmed
        ? await this.store.getUnconfirmed(ref)
        : await this.store.get(ref).then((record) => record && { record, confirmed: Promise.resolve(true) });
    if (!read) return undefined;
    const { record, confirmed } = read;
    // The row's own account must match the cookie's: a row is only ever found in its own partition.
    if (record.homeAccountId.toLowerCase() !== ref.homeAccountId.toLowerCase()) return undefined;
    const now = this.clock();
    const expired = now >= record.idleExpiresAt || now >= record.absoluteExpiresAt;
    const slides = now - record.lastSeenAt >= SLIDE_WRITE_INTERVAL_MS;
    // No write (a delete on sight, a slide) for a session storage has not confirmed yet.
    if ((expired || slides) && !(await confirmed)) return undefined;
    if (expired) {
      await this.store.delete(ref, record);
      return undefined;
    }
    if (slides) {
      const idleExpiresAt = Math.min(now + this.policy.idleTimeoutSeconds * 1000, record.absoluteExpiresAt);
      await this.store.touch(ref, now, idleExpiresAt);
      return { session: { ...record, lastSeenAt: now, idleExpiresAt, ref }, confirmed };
    }
    return { session: { ...record, ref }, confirmed };
  }

  /**
   * Ends one session (one device): a sign-out, or a session whose sign-in failed after it was made.
   * `known`: its record, when the caller holds it (saves the store's read of the row).
   */
  async end(ref: SessionRef, known?: Pick<SessionRecord, 'sidHash'>): Promise<void> {
    await this.store.delete(ref, known);
  }

  /** True when the account has no live session left on any device. */
  async noneLeft(homeAccountId: string): Promise<boolean> {
    return (await this.store.countLiveForAccount(homeAccountId, this.clock())) === 0;
  }

  /**
   * Where the request's session cookie points, or undefined when it has none, a malformed one, or
   * one this app did not sign (no storage round trip either way).
   */
  ref(request: HttpRequest): Promise<SessionRef | undefined> {
    return this.cookies.verify(request.headers.get('cookie'));
  }

  /** Every session of the account, on every device. */
  async endAll(homeAccountId: string): Promise<number> {
    return this.store.deleteAllForAccount(homeAccountId);
  }

  /** The account's live sessions, newest sign-in first, the one making the request marked. */
  async devices(session: ActiveSession): Promise<DeviceView[]> {
    const now = this.clock();
    return (await this.store.listForAccount(session.homeAccountId))
      .filter(({ record }) => now < record.idleExpiresAt && now < record.absoluteExpiresAt)
      .map(({ ref, record }) => ({
        id: sessionHandle(ref.idHash),
        current: ref.idHash === session.ref.idHash,
        createdAt: record.createdAt,
        lastSeenAt: record.lastSeenAt,
        device: record.device ?? 'Unknown device',
      }))
      .sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Ends the account's session with this handle; resolves what it ended, or undefined if none has it. */
  async endByHandle(homeAccountId: string, handle: string): Promise<SessionRef | undefined> {
    const found = (await this.store.listForAccount(homeAccountId)).find(({ ref }) => sessionHandle(ref.idHash) === handle);
    if (found === undefined) return undefined;
    await this.store.delete(found.ref, found.record);
    return found.ref;
  }

  /** Ends every session of the account but this one; resolves how many. */
  async endOthers(session: ActiveSession): Promise<number> {
    const others = (await this.store.listForAccount(session.homeAccountId)).filter(({ ref }) => ref.idHash !== session.ref.idHash);
    for (const { ref, record } of others) await this.store.delete(ref, record);
    return others.length;
  }

  /** Ends the sessions whose sign-in carried this sid; resolves the accounts they belonged to. */
  async endBySid(sid: string): Promise<string[]> {
    const refs = await this.store.findBySid(hashSid(sid));
    const accounts = new Map<string, string>();
    for (const ref of refs) {
      // The index row names the account; the session row itself must agree before it counts.
      const record = await this.store.get(ref);
      if (record === undefined) continue;
      await this.store.delete(ref, record);
      accounts.set(ref.homeAccountId.toLowerCase(), ref.homeAccountId);
    }
    return [...accounts.values()];
  }
}

/**
 * The handle "Your devices" names a session by: derived from the stored hash of its id, so it is
 * neither the cookie's secret nor a way back to it, nor the row key storage uses.
 */
export function sessionHandle(idHash: string): string {
  return createHash('sha256').update(`session-handle\0${idHash}`).digest('base64url').slice(0, 22);
}

export function sessionCookie(id: string, maxAgeSeconds: number): Cookie {
  return { name: SESSION_COOKIE, value: id, path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: maxAgeSeconds };
}

export function clearSessionCookie(): Cookie {
  return { name: SESSION_COOKIE, value: '', path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: 0 };
}

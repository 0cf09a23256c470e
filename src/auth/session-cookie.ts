/**
 * The session cookie's value, self-authenticating: `<id>.<homeAccountId>.<mac>.<kid>`.
 *
 * - `id`: the 256-bit random session id, the secret (storage holds only its hash).
 * - `homeAccountId` (`<oid>.<tid>`): which partition holds the session, so one query fetches the
 *   session and the user's token cache together (session-store.ts). It is not a secret.
 * - `mac`: HMAC-SHA256 over the kid, the id and the account, with the key ring's `cookie:session`
 *   subkey (keyring.ts). Why: without it, anyone who knows an account (not a secret) could send
 *   random ids at that user's partition, each costing a storage read and pulling the user's
 *   token-cache rows into memory. With it, a cookie this app did not issue is refused before any
 *   storage round trip, and nothing about the account is loaded.
 * - `kid`: the ring key that signed it (last, because a kid may contain dots). The newest key signs;
 *   every key in the ring verifies, so a rotation signs nobody out. A kid this instance does not
 *   know yet asks the ring's provider for a newer ring once (rate-limited there, as for sealed
 *   values); dropping a key from the ring signs out the sessions it signed.
 *
 * The MAC only says "this app issued this id for this account". Revocation is unchanged: a cookie
 * whose row is gone (sign-out, forget, expiry) still reads as signed out.
 *
 * Cookies from before this format (`<id>.<homeAccountId>`, no MAC) are refused like any malformed
 * cookie: those users sign in again once. Accepting them during a transition would keep the
 * anonymous storage read this format exists to remove.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseCookieHeader } from '../http/cookies';
import { isHomeAccountId } from '../cache/token-cache-store';
import { currentRing, ringKnowing, type KeyRingSource, type RingKey } from '../crypto/keyring';
import { hashSessionId, type SessionRef } from './session-store';

export const SESSION_COOKIE = '__Host-session';
const PURPOSE = 'cookie:session';
const VALUE = /^([A-Za-z0-9_-]{43})\.([^.]+\.[^.]+)\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9._-]{1,64})$/;

/** A session cookie's parts, not verified: only `SessionCookies.verify` turns one into a SessionRef. */
export interface SessionCookieParts {
  readonly id: string;
  readonly homeAccountId: string;
  readonly mac: string;
  readonly kid: string;
}

/** The parts of a session cookie in a Cookie header, or undefined when it has none or a malformed one. */
export function parseSessionCookie(header: string | null | undefined): SessionCookieParts | undefined {
  const value = parseCookieHeader(header).get(SESSION_COOKIE);
  const match = value === undefined ? null : VALUE.exec(value);
  if (!match || !isHomeAccountId(match[2]!)) return undefined;
  return { id: match[1]!, homeAccountId: match[2]!, mac: match[3]!, kid: match[4]! };
}

function macOf(key: RingKey, id: string, homeAccountId: string): Buffer {
  return createHmac('sha256', key.derive(PURPOSE)).update(`${key.kid}\0${id}\0${homeAccountId}`, 'utf8').digest();
}

export class SessionCookies {
  constructor(private readonly keyRing: KeyRingSource) {}

  /** The cookie value for a new session, signed with the newest key. */
  async value(id: string, homeAccountId: string): Promise<string> {
    const key = (await currentRing(this.keyRing)).current;
    return `${id}.${homeAccountId}.${macOf(key, id, homeAccountId).toString('base64url')}.${key.kid}`;
  }

  /**
   * Where the request's session cookie points, or undefined when it has none, a malformed one, or
   * one this app did not sign. Touches no storage.
   */
  async verify(header: string | null | undefined): Promise<SessionRef | undefined> {
    const parts = parseSessionCookie(header);
    if (!parts) return undefined;
    const ring = await ringKnowing(this.keyRing, parts.kid).catch(() => currentRing(this.keyRing));
    const key = ring.get(parts.kid);
    if (key === undefined) return undefined;
    const given = Buffer.from(parts.mac, 'base64url');
    const expected = macOf(key, parts.id, parts.homeAccountId);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return { homeAccountId: parts.homeAccountId, idHash: hashSessionId(parts.id) };
  }
}

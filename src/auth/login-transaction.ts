/**
 * The sign-in transaction: PKCE verifier, state, nonce, returnTo (and claims for a CAE step-up),
 * sealed into a short-lived cookie between /api/login and /api/callback.
 *
 * One cookie per transaction, named after a hash of its state, so several tabs can sign in at once
 * without overwriting each other. The callback reads the cookie named by the returned state once,
 * and the response always deletes it (`getOnce`): a replayed callback finds nothing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Cookie, HttpRequest } from '@azure/functions';
import type { Clock } from '../clock';
import type { StringSealer } from '../crypto/seal';
import { parseCookieHeader } from '../http/cookies';

export const TRANSACTION_TTL_SECONDS = 600;
const COOKIE_PREFIX = '__Host-txn-';
/** The names cookieName makes; a stray name that is not a valid cookie token is never echoed back. */
const TRANSACTION_COOKIE_NAME = new RegExp(`^${COOKIE_PREFIX}[A-Za-z0-9_-]{16}$`);
const STATE = /^[A-Za-z0-9_-]{43}$/;

/** Seals with the key ring; unseal throws when the value was tampered with, truncated, or sealed under another key or context. */
export type Sealer = StringSealer;

export interface LoginTransaction {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly codeChallenge: string;
  readonly returnTo: string;
  readonly createdAt: number;
  readonly claims?: string;
  /** A quiet re-sign-in (`prompt=none`, silent-sign-in.ts): a refusal shows the sign-in button, not an error. */
  readonly silent?: true;
}

export function newTransaction(returnTo: string, clock: Clock, claims?: string, silent = false): LoginTransaction {
  const codeVerifier = randomBytes(32).toString('base64url');
  return {
    state: randomBytes(32).toString('base64url'),
    nonce: randomBytes(32).toString('base64url'),
    codeVerifier,
    codeChallenge: createHash('sha256').update(codeVerifier).digest('base64url'),
    returnTo,
    createdAt: clock(),
    ...(claims === undefined ? {} : { claims }),
    ...(silent ? { silent: true as const } : {}),
  };
}

/** Transactions kept per browser: enough for several tabs signing in at once. */
export const MAX_OPEN_TRANSACTIONS = 4;

/** The request's transaction cookies, as [name, value]. */
function transactionCookies(request: HttpRequest): [string, string][] {
  return [...parseCookieHeader(request.headers.get('cookie'))].filter(([name]) => TRANSACTION_COOKIE_NAME.test(name));
}

/** The values of the request's transaction cookies (to be opened: see Services.transactionSealer). */
export function transactionCookieValues(request: HttpRequest): string[] {
  return transactionCookies(request).map(([, value]) => value);
}

/**
 * Deletions for the oldest open transaction cookies beyond MAX_OPEN_TRANSACTIONS - 1 (the new one
 * makes the count). Without it, each /api/login would add a cookie for 10 minutes, and a few dozen
 * (from links someone else made the browser follow) would push the Cookie header past server limits.
 * Cookies that do not open are deleted too.
 */
export function staleTransactionCookies(request: HttpRequest, sealer: Sealer): Cookie[] {
  const open: { name: string; createdAt: number }[] = [];
  const stale: string[] = [];
  for (const [name, value] of transactionCookies(request)) {
    try {
      const { createdAt } = JSON.parse(sealer.unseal(value, name)) as { createdAt: number };
      open.push({ name, createdAt: Number(createdAt) || 0 });
    } catch {
      stale.push(name);
    }
  }
  open.sort((a, b) => b.createdAt - a.createdAt);
  stale.push(...open.slice(MAX_OPEN_TRANSACTIONS - 1).map((t) => t.name));
  return stale.map((name) => ({ name, value: '', path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: 0 }));
}

function cookieName(state: string): string {
  return COOKIE_PREFIX + createHash('sha256').update(state).digest('base64url').slice(0, 16);
}

export function transactionCookie(transaction: LoginTransaction, sealer: Sealer): Cookie {
  const name = cookieName(transaction.state);
  const { codeChallenge: _derived, ...stored } = transaction;
  return {
    name,
    value: sealer.seal(JSON.stringify(stored), name),
    path: '/',
    secure: true,
    httpOnly: true,
    sameSite: 'Lax',
    maxAge: TRANSACTION_TTL_SECONDS,
  };
}

export type TransactionResult =
  | { readonly ok: true; readonly transaction: LoginTransaction; readonly clear: Cookie }
  | { readonly ok: false; readonly reason: 'state_missing' | 'not_found' | 'invalid' | 'expired' | 'state_mismatch'; readonly clear?: Cookie };

/**
 * Finds and opens the transaction the callback's `state` names. The caller must send `clear` back
 * whatever happens next, so the transaction is used at most once.
 */
export function takeTransaction(request: HttpRequest, state: string | null, sealer: Sealer, clock: Clock): TransactionResult {
  if (!state || !STATE.test(state)) return { ok: false, reason: 'state_missing' };
  const name = cookieName(state);
  const sealed = parseCookieHeader(request.headers.get('cookie')).get(name);
  if (!sealed) return { ok: false, reason: 'not_found' };
  const clear: Cookie = { name, value: '', path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: 0 };
  let stored: Omit<LoginTransaction, 'codeChallenge'>;
  try {
    stored = JSON.parse(sealer.unseal(sealed, name)) as Omit<LoginTransaction, 'codeChallenge'>;
  } catch {
    return { ok: false, reason: 'invalid', clear };
  }
  if (typeof stored.state !== 'string' || !constantTimeEqual(stored.state, state)) return { ok: false, reason: 'state_mismatch', clear };
  if (clock() - stored.createdAt > TRANSACTION_TTL_SECONDS * 1000) return { ok: false, reason: 'expired', clear };
  const transaction: LoginTransaction = {
    ...stored,
    codeChallenge: createHash('sha256').update(stored.codeVerifier).digest('base64url'),
  };
  return { ok: true, transaction, clear };
}

/** Whether two strings are equal, in a time that does not depend on where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Quiet re-sign-in. When a signed-in person's refresh token is gone or refused (revoked, expired,
 * the tokens deleted because their last other device signed out) while Entra's own sign-in session
 * in the browser may still be alive, the page first sends the browser once, top-level, through
 * /api/login with `prompt=none`: Entra then answers at once with a code (no page shown) or with
 * `login_required` / `interaction_required`, and the person sees the sign-in button with a note.
 *
 * Never a loop: an attempt sets a short-lived cookie, and while it is there no other is made, so
 * at most one silent attempt per browser every SILENT_SIGN_IN_INTERVAL_SECONDS. Never after the
 * person's own sign-out or "forget me": those end the session, and only a live session whose
 * tokens fail leads here.
 */
import type { Cookie, HttpRequest } from '@azure/functions';
import { parseCookieHeader } from '../http/cookies';

export const SILENT_SIGN_IN_COOKIE = '__Host-silent-sign-in';
/** At most one silent attempt per browser in this interval. */
export const SILENT_SIGN_IN_INTERVAL_SECONDS = 300;

/** The provider's answers to `prompt=none` that mean "this needs the person": show the button. */
export const SILENT_SIGN_IN_REFUSALS: ReadonlySet<string> = new Set(['login_required', 'interaction_required', 'consent_required', 'account_selection_required']);

export function silentSignInAllowed(request: HttpRequest): boolean {
  return !parseCookieHeader(request.headers.get('cookie')).has(SILENT_SIGN_IN_COOKIE);
}

export function silentSignInUrl(returnTo: string): string {
  return `/api/login?${new URLSearchParams({ returnTo, prompt: 'none' }).toString()}`;
}

export function silentSignInCookie(): Cookie {
  return { name: SILENT_SIGN_IN_COOKIE, value: '1', path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: SILENT_SIGN_IN_INTERVAL_SECONDS };
}

import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { html } from '../http/responses';
import type { Services } from '../services';
import { removeTokensIfLast } from './sessions';

/**
 * What a `sid` may look like: Entra's are GUIDs, other OpenID providers' short random strings.
 * Anything else is junk and costs no storage.
 */
const SID = /^[A-Za-z0-9._~:-]{8,128}$/;

/**
 * GET /api/logout/frontchannel?sid=<sid> (OpenID Connect Front-Channel Logout 1.0): Entra loads it in
 * a hidden iframe on its sign-out page when the person signs out of Microsoft anywhere. It ends this
 * app's sessions whose sign-in carried that `sid` (the ID token's claim) on every device, and the
 * account's tokens when no device is left, as at a sign-out.
 *
 * - No cookie is needed or read: in a third-party iframe browsers withhold the app's cookie.
 * - It answers 200 with an empty page whatever the sid (unknown, junk or absent): the caller is a
 *   frame nobody sees, and a different answer would only tell a prober which sids exist. A sid of
 *   the right shape costs one storage read (the index lookup, session-store.ts); junk costs none.
 * - It is a GET that changes state, as the specification requires; what it can do is sign someone
 *   out who knows their sign-in's `sid`, which Entra does not put in any URL but this one.
 * - The page may be framed by the authority's origin only (frame-ancestors), nothing else.
 */
export async function frontchannelLogout(services: Services, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const sid = request.query.get('sid');
  if (sid !== null && SID.test(sid)) {
    const accounts = await services.sessions.endBySid(sid);
    for (const homeAccountId of accounts) await removeTokensIfLast(services, { homeAccountId });
    if (accounts.length > 0) context.info(`front-channel sign-out: ended the sessions of ${accounts.length} account(s)`);
  }
  return frameablePage(new URL(services.config.cloudInstance).origin);
}

function frameablePage(authorityOrigin: string): HttpResponseInit {
  const response = html(200, '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head><body></body></html>\n');
  const headers = { ...(response.headers as Record<string, string>) };
  // X-Frame-Options has no "allow this origin" form that browsers honour; CSP frame-ancestors rules.
  delete headers['X-Frame-Options'];
  headers['Content-Security-Policy'] = `default-src 'none'; frame-ancestors ${authorityOrigin}; base-uri 'none'; form-action 'none'`;
  return { ...response, headers };
}

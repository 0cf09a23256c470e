import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { clearSessionCookie } from '../auth/sessions';
import { assertSameOrigin } from '../http/request';
import { html, redirect } from '../http/responses';
import type { Services } from '../services';
import { logoutConfirmPage } from '../web/pages';
import { removeTokensIfLast } from './sessions';

/**
 * GET /api/logout shows a confirmation form; POST /api/logout (same origin only) signs this device
 * out: the session is deleted, the cookie cleared, the account's tokens leave the cache when no
 * other device is signed in with them, and the browser goes to Entra's end-session endpoint to end
 * the Microsoft session too.
 */
export async function logout(services: Services, request: HttpRequest): Promise<HttpResponseInit> {
  const { config } = services;
  if (request.method !== 'POST') return html(200, logoutConfirmPage());
  assertSameOrigin(request, config.publicBaseUrl);

  const session = await services.sessions.current(request);
  if (!session) return redirect('/', { cookies: [clearSessionCookie()] });
  // Sign-out is per device: the account's tokens stay while another device is still signed in
  // with them ("Delete my data" removes everything everywhere).
  await services.sessions.end(session.ref, session);
  await removeTokensIfLast(services, session);

  const endSession = new URL(await services.msal.endSessionEndpoint());
  endSession.searchParams.set('post_logout_redirect_uri', `${config.publicBaseUrl}/`);
  endSession.searchParams.set('client_id', config.clientId);
  if (session.logoutHint) endSession.searchParams.set('logout_hint', session.logoutHint);
  return redirect(endSession.href, { cookies: [clearSessionCookie()] });
}

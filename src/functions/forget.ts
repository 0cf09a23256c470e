import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { clearSessionCookie } from '../auth/sessions';
import { assertSameOrigin } from '../http/request';
import { html } from '../http/responses';
import type { Services } from '../services';
import { forgetConfirmPage, forgottenPage } from '../web/pages';
import { requireSession } from './me';

/**
 * GET /api/forget shows what will be deleted; POST /api/forget (same origin only) deletes every
 * session of the account on every device and every token cached for it, then explains how to
 * withdraw the app's consent at Microsoft.
 */
export async function forget(services: Services, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  if (request.method !== 'POST') {
    await requireSession(services, request, '/api/forget');
    return html(200, forgetConfirmPage());
  }
  assertSameOrigin(request, services.config.publicBaseUrl);
  const session = await requireSession(services, request, '/api/forget');
  // Tokens first: if storage fails between the two steps, the user still holds a session that
  // can retry, rather than a session-less cache nobody can delete.
  await services.tokens.removeAccount(session.homeAccountId);
  const sessions = await services.sessions.endAll(session.homeAccountId);
  context.info(`forget: deleted ${sessions} session(s) and the token cache of one account`);
  return html(200, forgottenPage(), { cookies: [clearSessionCookie()] });
}

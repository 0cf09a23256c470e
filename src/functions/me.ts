import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { loginUrl } from '../auth/claims';
import { loginRequired } from '../auth/msal-errors';
import type { ActiveSession } from '../auth/sessions';
import { enforceSessionTenant } from '../auth/tenant-gate';
import { json } from '../http/responses';
import type { Services } from '../services';
import { tagUser } from '../telemetry/spans';

/** The signed-in session, or a 401 login_required whose loginUrl brings the user back to `returnTo`. */
export async function requireSession(services: Services, request: HttpRequest, returnTo = '/', context?: Pick<InvocationContext, 'warn'>): Promise<ActiveSession> {
  const session = await services.sessions.current(request);
  if (!session) throw loginRequired(loginUrl(returnTo), 'You are not signed in. Sign in to continue.');
  await enforceSessionTenant(services, session, returnTo, (m) => context?.warn(m));
  tagUser(session.homeAccountId);
  return session;
}

/**
 * GET /api/me: who is signed in, and until when: `idleExpiresAt` (moves forward with use, see
 * sessions.ts) and `absoluteExpiresAt` (fixed at sign-in: a sign-in is needed after it).
 */
export async function me(services: Services, request: HttpRequest, context?: InvocationContext): Promise<HttpResponseInit> {
  const session = await requireSession(services, request, '/', context);
  return json(200, {
    name: session.name,
    username: session.username,
    tenantId: session.tenantId,
    idleExpiresAt: new Date(session.idleExpiresAt).toISOString(),
    absoluteExpiresAt: new Date(session.absoluteExpiresAt).toISOString(),
  });
}

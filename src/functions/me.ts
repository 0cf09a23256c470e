import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { notSignedIn } from '../auth/msal-errors';
import type { ActiveSession } from '../auth/sessions';
import { enforceSessionTenant } from '../auth/tenant-gate';
import { json } from '../http/responses';
import type { Services } from '../services';
import { tagUser } from '../telemetry/spans';

/** The signed-in session, or a 401 login_required whose loginUrl brings the user back to `returnTo`. */
export async function requireSession(services: Services, request: HttpRequest, returnTo = '/', context?: Pick<InvocationContext, 'warn'>): Promise<ActiveSession> {
  const session = await services.sessions.current(request);
  if (!session) throw notSignedIn(returnTo);
  await admit(services, session, returnTo, context);
  return session;
}

/**
 * As `requireSession`, with a remembered session's storage confirmation still under way
 * (Sessions `currentUnconfirmed`): the caller must await `confirmed`, and answer `notSignedIn`
 * when it is false, before it answers.
 */
export async function requireSessionUnconfirmed(
  services: Services,
  request: HttpRequest,
  returnTo: string,
  context?: Pick<InvocationContext, 'warn'>,
): Promise<{ session: ActiveSession; confirmed: Promise<boolean> }> {
  const found = await services.sessions.currentUnconfirmed(request);
  if (!found) throw notSignedIn(returnTo);
  await admit(services, found.session, returnTo, context);
  return found;
}

/** What every signed-in request passes: its organization still allowed (tenant-gate.ts), and its span tagged. */
async function admit(services: Services, session: ActiveSession, returnTo: string, context: Pick<InvocationContext, 'warn'> | undefined): Promise<void> {
  await enforceSessionTenant(services, session, returnTo, (m) => context?.warn(m));
  tagUser(session.homeAccountId);
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

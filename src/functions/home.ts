import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { loginUrl } from '../auth/claims';
import { accountOrganization } from '../auth/issuer';
import { enforceSessionTenant } from '../auth/tenant-gate';
import { ErrorCode, isAppError } from '../errors';
import { silentSignInAllowed, silentSignInCookie, silentSignInUrl } from '../auth/silent-sign-in';
import { html, redirect } from '../http/responses';
import type { Services } from '../services';
import { signInDueNotice } from '../web/devices-page';
import { inboxPage, signedOutPage } from '../web/pages';
import { readMail } from './mail';

/**
 * GET /: the page a person uses. Signed out: what the app does and the sign-in button. Signed in:
 * their unread mail. A session that can no longer get tokens (expired, consent revoked) shows the
 * sign-in button with a short explanation, never an error dump.
 */
export async function home(services: Services, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const session = await services.sessions.current(request);
  if (!session) return html(200, signedOutPage({ loginUrl: loginUrl('/') }));

  const cursor = request.query.get('cursor') ?? undefined;
  const returnTo = '/';
  const user = { name: session.name, username: session.username, organization: accountOrganization(session.tenantId) };
  try {
    await enforceSessionTenant(services, session, returnTo, (m) => context.warn(m));
    const page = await readMail(services, session, { top: 10, unreadOnly: true, cursor }, returnTo);
    return html(
      200,
      inboxPage({
        user,
        messages: page.messages,
        nextUrl: page.nextCursor ? `/?${new URLSearchParams({ cursor: page.nextCursor }).toString()}` : undefined,
        isFirstPage: cursor === undefined,
        signInDue: signInDueNotice(session.absoluteExpiresAt, services.clock()),
      }),
    );
  } catch (error) {
    if (!isAppError(error)) throw error;
    const url = typeof error.details?.['loginUrl'] === 'string' ? (error.details['loginUrl'] as string) : undefined;
    // Not when the account's organization is refused (tenant-gate.ts): Entra would sign it in again,
    // only for the gate to refuse it once more.
    const tenantRefused = error.details?.['reason'] === ErrorCode.TENANT_NOT_ALLOWED;
    if (error.code === ErrorCode.LOGIN_REQUIRED && url !== undefined && !url.includes('claims=') && !tenantRefused && silentSignInAllowed(request)) {
      // The refresh token is gone or refused: one quiet try at Entra first (silent-sign-in.ts).
      context.info('home: login_required; one quiet re-sign-in');
      return redirect(silentSignInUrl(returnTo), { cookies: [silentSignInCookie()] });
    }
    if (error.code === ErrorCode.LOGIN_REQUIRED || (error.code === ErrorCode.GRAPH_FORBIDDEN && url)) {
      context.info(`home: ${error.code}; showing sign-in`);
      return html(200, signedOutPage({ loginUrl: url ?? loginUrl(returnTo), notice: `${error.message} Your mail is safe; nothing was lost.` }));
    }
    // Anything else (Graph busy, a bad page link, no mailbox): the user stays signed in, the page
    // says what happened, and the status tells monitoring the same.
    if (error.status >= 500) context.warn(`home: ${error.code}`);
    const problem =
      error.code === ErrorCode.BAD_REQUEST
        ? 'That page link is no longer valid. Start again from the newest mail.'
        : error.status >= 500
          ? `${error.message} Reload the page in a few seconds.`
          : error.message;
    const headers: Record<string, string> = error.retryAfterSeconds ? { 'Retry-After': String(Math.ceil(error.retryAfterSeconds)) } : {};
    return html(error.status, inboxPage({ user, messages: [], nextUrl: undefined, isFirstPage: cursor === undefined, problem }), { headers });
  }
}

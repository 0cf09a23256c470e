import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { loginUrl } from '../auth/claims';
import { ErrorCode, isAppError } from '../errors';
import { html } from '../http/responses';
import type { Services } from '../services';
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
  const user = { name: session.name, username: session.username };
  try {
    const page = await readMail(services, session, { top: 10, unreadOnly: true, cursor }, returnTo);
    return html(
      200,
      inboxPage({
        user,
        messages: page.messages,
        nextUrl: page.nextCursor ? `/?${new URLSearchParams({ cursor: page.nextCursor }).toString()}` : undefined,
        isFirstPage: cursor === undefined,
      }),
    );
  } catch (error) {
    if (!isAppError(error)) throw error;
    if (error.code === ErrorCode.LOGIN_REQUIRED) {
      context.info('home: the session can no longer get tokens; showing sign-in');
      const url = typeof error.details?.['loginUrl'] === 'string' ? (error.details['loginUrl'] as string) : loginUrl(returnTo);
      return html(200, signedOutPage({ loginUrl: url, notice: `${error.message} Your mail is safe; nothing was lost.` }));
    }
    if (error.code === ErrorCode.BAD_REQUEST) {
      return html(400, inboxPage({ user, messages: [], nextUrl: undefined, isFirstPage: false, problem: 'That page link is no longer valid. Start again from the newest mail.' }));
    }
    if (error.status === 503 || error.status === 502) {
      context.warn(`home: ${error.code}`);
      const headers: Record<string, string> = error.retryAfterSeconds ? { 'Retry-After': String(error.retryAfterSeconds) } : {};
      return html(error.status, inboxPage({ user, messages: [], nextUrl: undefined, isFirstPage: cursor === undefined, problem: `${error.message} Reload the page in a few seconds.` }), { headers });
    }
    throw error;
  }
}

import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { loginUrl } from '../auth/claims';
import { loginRequired, notSignedIn } from '../auth/msal-errors';
import type { ActiveSession } from '../auth/sessions';
import { AppError, ErrorCode, badRequest, isAppError } from '../errors';
import { ClaimsChallengeError, type MailPage, type MailQuery } from '../graph/mail-client';
import { json } from '../http/responses';
import type { Services } from '../services';
import { instruments } from '../telemetry/instruments';
import { requireSessionUnconfirmed } from './me';

export const MAX_TOP = 50;
export const DEFAULT_TOP = 10;

export interface MailRequest {
  readonly top: number;
  readonly unreadOnly: boolean;
  readonly cursor: string | undefined;
}

/** Checks the query: `top` is clamped to 1..50, anything that is not a number is a 400 naming it. */
export function parseMailRequest(query: URLSearchParams): MailRequest {
  const topText = query.get('top');
  let top = DEFAULT_TOP;
  if (topText !== null) {
    if (!/^-?\d{1,6}$/.test(topText)) throw badRequest('"top" must be a whole number from 1 to 50.', { parameter: 'top' });
    top = Math.min(MAX_TOP, Math.max(1, Number(topText)));
  }
  const unreadText = query.get('unread');
  if (unreadText !== null && unreadText !== 'true' && unreadText !== 'false') {
    throw badRequest('"unread" must be true or false.', { parameter: 'unread' });
  }
  const cursor = query.get('cursor') ?? undefined;
  if (cursor !== undefined && (cursor.length === 0 || cursor.length > 4096)) throw badRequest('"cursor" is not valid. Start again from the first page.', { parameter: 'cursor' });
  return { top, unreadOnly: unreadText !== 'false', cursor };
}

/**
 * Reads one page of the session user's mail through Graph, refreshing the access token silently
 * when needed and answering a CAE claims challenge with one silent retry carrying the claims.
 */
export async function readMail(
  services: Services,
  session: ActiveSession,
  mailRequest: MailRequest,
  returnTo: string,
  sessionConfirmed?: Promise<boolean>,
): Promise<MailPage & { nextCursor: string | null }> {
  const sealer = await services.cursorSealer(mailRequest.cursor === undefined ? [] : [mailRequest.cursor]);
  const context = `cursor:${session.homeAccountId}`;
  let nextQuery: string | undefined;
  if (mailRequest.cursor !== undefined) {
    try {
      nextQuery = sealer.unseal(mailRequest.cursor, context);
    } catch {
      throw badRequest('"cursor" is not valid. Start again from the first page.', { parameter: 'cursor' });
    }
  }
  const query: MailQuery = { top: mailRequest.top, unreadOnly: mailRequest.unreadOnly, ...(nextQuery !== undefined ? { nextQuery } : {}) };
  const scopes = services.config.graphScopes;
  const fetchPage = async (options: { claims?: string; forceRefresh?: boolean }): Promise<MailPage> => {
    const token = await services.tokens.acquire(session.homeAccountId, scopes, { ...options, returnTo, ...(sessionConfirmed ? { sessionConfirmed } : {}) });
    return services.graph.listMessages(token.accessToken, session.homeAccountId, query);
  };

  let page: MailPage;
  try {
    page = await fetchPage({});
  } catch (error) {
    if (error instanceof ClaimsChallengeError) {
      try {
        page = await fetchPage({ claims: error.claims });
      } catch (second) {
        if (second instanceof ClaimsChallengeError) {
          instruments().forcedSignIns.add(1, { cause: 'claims_challenge' });
          throw loginRequired(loginUrl(returnTo, second.claims), 'Your organization needs you to sign in again.');
        }
        throw second;
      }
    } else if (isAppError(error) && error.details?.['graphStatus'] === 401) {
      // The token was refused without a challenge (revoked early): one fresh token, then give up.
      try {
        page = await fetchPage({ forceRefresh: true });
      } catch (second) {
        if (isAppError(second) && second.details?.['graphStatus'] === 401) {
          instruments().forcedSignIns.add(1, { cause: 'token_rejected' });
          throw loginRequired(loginUrl(returnTo), 'Your session has ended. Sign in again to continue.');
        }
        throw second;
      }
    } else if (isAppError(error) && error.code === ErrorCode.GRAPH_FORBIDDEN) {
      // Consent withdrawn: a sign-in that asks for consent again is the way back.
      throw new AppError(error.code, error.message, { status: 403, details: { ...error.details, loginUrl: loginUrl(returnTo, undefined, 'consent') } });
    } else {
      throw error;
    }
  }
  return { ...page, nextCursor: page.nextQuery === undefined ? null : sealer.seal(page.nextQuery, context) };
}

/** GET /api/mail?top=10&unread=true&cursor=...: the user's messages, newest first. */
export async function mail(services: Services, request: HttpRequest, context?: InvocationContext): Promise<HttpResponseInit> {
  const mailRequest = parseMailRequest(request.query);
  // A remembered session's confirmation read (the at-once check of "Your devices") runs while the
  // Graph call does; nothing is answered, and no token is refreshed, before it confirms.
  const { session, confirmed } = await requireSessionUnconfirmed(services, request, '/', context);
  let page: Awaited<ReturnType<typeof readMail>>;
  try {
    page = await readMail(services, session, mailRequest, '/', confirmed);
  } catch (error) {
    if (!(await confirmed)) throw notSignedIn('/');
    throw error;
  }
  if (!(await confirmed)) throw notSignedIn('/');
  return json(200, { messages: page.messages, nextCursor: page.nextCursor });
}

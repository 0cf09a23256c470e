import type { Cookie, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { withCredentialRetry } from '../auth/credential-retry';
import { takeTransaction, transactionCookieValues, TRANSACTION_TTL_SECONDS } from '../auth/login-transaction';
import { issuerMatches } from '../auth/issuer';
import { classifyTokenError, identityProviderUnavailable } from '../auth/msal-errors';
import { signInTenantRefusal } from '../auth/tenant-gate';
import { safeReturnTo } from '../auth/return-to';
import { SILENT_SIGN_IN_REFUSALS } from '../auth/silent-sign-in';
import { AppError, ErrorCode } from '../errors';
import { errorResponse, FailureWithCookies } from '../http/handle-errors';
import { readForm } from '../http/request';
import { redirect } from '../http/responses';
import type { Services } from '../services';
import type { StartedSession } from '../auth/sessions';
import type { SessionRef } from '../auth/session-store';
import { partitionKeyOf } from '../cache/token-cache-store';
import { signInErrorPage } from '../web/pages';
import { html } from '../http/responses';
import { signInScopes } from './login';
import { removeTokensIfLast } from './sessions';
import { instruments } from '../telemetry/instruments';
import { errorKind, tagUser } from '../telemetry/spans';

/** bff.sign_ins: one per completed callback, ok or failed with a reason from a closed set. */
function countSignIn(outcome: 'ok' | 'failed', reason?: string): void {
  instruments().signIns.add(1, reason === undefined ? { outcome } : { outcome, reason });
}

/** What the provider's `error` means for the person, by code; anything else gets the generic text. */
const PROVIDER_ERRORS: Readonly<Record<string, string>> = {
  access_denied: 'Sign-in was cancelled, or your organization does not allow this app.',
  consent_required: 'This app needs permission to read your mail. Ask your administrator to approve it, or sign in again and accept.',
  interaction_required: 'Microsoft needs you to sign in again.',
  login_required: 'Microsoft needs you to sign in again.',
  invalid_request: 'The sign-in request was not accepted. Try again.',
  temporarily_unavailable: 'Microsoft sign-in had a temporary problem. Try again in a moment.',
  server_error: 'Microsoft sign-in had a temporary problem. Try again in a moment.',
};

/** GET|POST /api/callback: completes the sign-in started by /api/login. */
export async function callback(services: Services, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { config, clock } = services;
  const params = request.method === 'POST' ? await readForm(request) : request.query;
  const taken = takeTransaction(request, params.get('state'), await services.transactionSealer(transactionCookieValues(request)), clock);
  const clear: Cookie[] = taken.clear ? [taken.clear] : [];

  if (!taken.ok) {
    countSignIn('failed', ErrorCode.LOGIN_TRANSACTION_INVALID);
    context.warn(`sign-in transaction refused: ${taken.reason}`);
    return page(
      400,
      ErrorCode.LOGIN_TRANSACTION_INVALID,
      'This sign-in link has expired or was already used. Start again from the app.',
      '/api/login',
      clear,
    );
  }
  const { transaction } = taken;
  const retry = `/api/login?${new URLSearchParams({ returnTo: transaction.returnTo }).toString()}`;

  // RFC 9207: an `iss` that is not our authority's means the answer (error or code) came from another
  // provider the browser was also talking to (a mix-up attack). Entra does not send it; absence is fine.
  const iss = params.get('iss');
  if (iss !== null) {
    const expected = await services.msal.issuer();
    if (expected === undefined || !issuerMatches(expected, iss)) {
      context.warn('sign-in refused: the callback\'s iss is not the authority\'s issuer');
      return page(400, ErrorCode.ISSUER_MISMATCH, 'This sign-in answer came from an identity provider this app does not use. Start again from the app.', '/api/login', clear);
    }
  }

  const providerError = params.get('error');
  if (providerError !== null && transaction.silent && SILENT_SIGN_IN_REFUSALS.has(providerError)) {
    // A quiet re-sign-in Entra could not do without the person: back to the page, which shows the
    // sign-in button with a note (its silent-attempt cookie stops another try).
    context.info(`quiet re-sign-in: ${providerError}; showing the sign-in button`);
    return redirect(safeReturnTo(transaction.returnTo), { cookies: clear });
  }
  if (providerError !== null) {
    const known = Object.hasOwn(PROVIDER_ERRORS, providerError);
    countSignIn('failed', known ? `provider_${providerError}` : 'provider_error');
    context.warn(`sign-in failed at the provider: ${known ? providerError : 'unrecognised error code'}`);
    return page(400, ErrorCode.LOGIN_FAILED, known ? PROVIDER_ERRORS[providerError]! : 'Sign-in did not complete. Try again.', retry, clear, {
      providerError: known ? providerError : undefined,
      description: params.get('error_description') ?? undefined,
    });
  }
  const code = params.get('code');
  if (!code || code.length > 4096) {
    countSignIn('failed', ErrorCode.LOGIN_TRANSACTION_INVALID);
    return page(400, ErrorCode.LOGIN_TRANSACTION_INVALID, 'The sign-in answer had no authorization code. Try again.', retry, clear);
  }

  // One-time on the server too (spent-transactions.ts): a client that kept the cookie cannot replay
  // it with other codes. Only now, with a code to redeem, so an error callback costs no write.
  // Storage down: the error page, and the cookie goes all the same (a browser never replays it).
  const firstUse = await services.spentTransactions
    .spend(transaction.state, transaction.createdAt + TRANSACTION_TTL_SECONDS * 1000)
    .catch((error: unknown) => {
      throw new FailureWithCookies(error, clear);
    });
  if (!firstUse) {
    context.warn('sign-in transaction refused: already used');
    return page(400, ErrorCode.LOGIN_TRANSACTION_INVALID, 'This sign-in link has expired or was already used. Start again from the app.', '/api/login', clear);
  }

  let result;
  let app;
  try {
    result = await withCredentialRetry(services.credentials, async () => {
      app = await services.msal.create();
      return app.acquireTokenByCode({
        code,
        scopes: signInScopes(config.graphScopes),
        redirectUri: config.redirectUri,
        codeVerifier: transaction.codeVerifier,
        nonce: transaction.nonce,
        ...(transaction.claims ? { claims: transaction.claims } : {}),
      });
    });
  } catch (error) {
    if (error instanceof AppError) {
      countSignIn('failed', errorKind(error));
      return withCookies(errorResponse('page', error), clear);
    }
    const failure = classifyTokenError(error);
    countSignIn('failed', failure.kind === 'transient' ? ErrorCode.IDENTITY_PROVIDER_UNAVAILABLE : 'code_redemption_refused');
    if (failure.kind === 'transient') return withCookies(errorResponse('page', identityProviderUnavailable(error)), clear);
    context.warn(`code redemption refused: ${failure.kind === 'other' || failure.kind === 'interaction_required' ? failure.oauthError : failure.kind}`);
    return page(400, ErrorCode.LOGIN_FAILED, 'That sign-in could not be completed (it may have been used already). Try again.', retry, clear);
  }
  const account = result.account;
  if (!account || !app) {
    countSignIn('failed', 'no_account');
    return page(400, ErrorCode.LOGIN_FAILED, 'Microsoft did not return an account for this sign-in. Try again.', retry, clear);
  }
  const claims = (result.idTokenClaims ?? {}) as Record<string, unknown>;
  // Whose sign-in this is decides whether it may be stored at all (ALLOWED_TENANTS, Entra's issuer rule).
  const refusal = signInTenantRefusal(config, claims, iss, context);
  if (refusal) return page(403, refusal.code, refusal.message, refusal.retryUrl, clear);
  const serializedCache = (app as { getTokenCache(): { serialize(): string } }).getTokenCache().serialize();
  const logoutHint = stringClaim(claims, 'login_hint');
  const sid = stringClaim(claims, 'sid');
  let started: StartedSession | undefined;
  try {
    // The session first, then the tokens: a sign-out of the account's last other device counts
    // live sessions before it deletes the account's tokens, and must count this one. The browser
    // gets the session cookie only with this response, so nothing can use the session before its
    // tokens are stored.
    started = await services.sessions.start(
      {
        homeAccountId: account.homeAccountId,
        name: account.name ?? stringClaim(claims, 'name') ?? account.username,
        username: account.username,
        tenantId: account.tenantId,
        ...(logoutHint ? { logoutHint } : {}),
        ...(sid ? { sid } : {}),
      },
      request,
    );
    await services.tokens.saveSignIn(account.homeAccountId, serializedCache);
  } catch (error) {
    // Its cookie never reaches the browser, so it must not count as a signed-in device.
    if (started) {
      await services.sessions.end(started.ref).catch(() => {
        context.warn('sign-in: the session made for a failed sign-in could not be deleted (storage); it expires unused');
      });
    }
    countSignIn('failed', errorKind(error));
    // The transaction is spent (its code redeemed): its cookie goes, whatever the error page says.
    throw new FailureWithCookies(error, clear);
  }
  countSignIn('ok');
  tagUser(account.homeAccountId);
  if (started.previous) await endReplacedSession(services, started.previous, account.homeAccountId, context);
  return redirect(safeReturnTo(transaction.returnTo), { cookies: [...clear, started.cookie] });
}

/**
 * The browser's previous session ends now that the new one holds its tokens. If it was someone
 * else's, that account's tokens go, as at a sign-out, when no other device still uses them. Not a
 * reason to fail this sign-in: an unused session row expires, and the sweep takes unused tokens.
 */
async function endReplacedSession(services: Services, previous: SessionRef, signedIn: string, context: InvocationContext): Promise<void> {
  try {
    const replaced = await services.sessions.endReplaced(previous);
    if (replaced !== undefined && partitionKeyOf(replaced) !== partitionKeyOf(signedIn)) {
      await removeTokensIfLast(services, { homeAccountId: replaced });
    }
  } catch {
    context.warn('sign-in: the session this browser had before (or its account\'s tokens) could not be removed (storage); expiry and the sweep remove them');
  }
}

function stringClaim(claims: Record<string, unknown>, name: string): string | undefined {
  const value = claims[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function page(
  status: number,
  code: string,
  message: string,
  retryUrl: string,
  cookies: Cookie[],
  provider?: { providerError: string | undefined; description: string | undefined },
): HttpResponseInit {
  return html(status, signInErrorPage({ code, message, retryUrl, ...provider }), { cookies });
}

function withCookies(response: HttpResponseInit, cookies: Cookie[]): HttpResponseInit {
  return { ...response, cookies: [...(response.cookies ?? []), ...cookies] };
}

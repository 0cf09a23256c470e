import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { ResponseMode } from '@azure/msal-node';
import { decodeClaims } from '../auth/claims';
import { newTransaction, staleTransactionCookies, transactionCookie, transactionCookieValues } from '../auth/login-transaction';
import { safeReturnTo } from '../auth/return-to';
import { redirect } from '../http/responses';
import type { Services } from '../services';

/** Sign-in scopes: OIDC (MSAL adds openid/profile itself), offline_access for refresh tokens, and Graph. */
export function signInScopes(graphScopes: readonly string[]): string[] {
  return ['openid', 'profile', 'offline_access', ...graphScopes];
}

const PROMPTS = new Set(['login', 'select_account', 'consent', 'none']);
const HINT = /^[A-Za-z0-9@._+\-]{1,256}$/;

/** GET /api/login?returnTo=/path: starts a PKCE transaction and sends the browser to Entra. */
export async function login(services: Services, request: HttpRequest): Promise<HttpResponseInit> {
  const { config, clock } = services;
  const query = request.query;
  const returnTo = safeReturnTo(query.get('returnTo'));
  const claims = decodeClaims(query.get('claims'));
  const prompt = query.get('prompt');
  const transaction = newTransaction(returnTo, clock, claims, prompt === 'none');

  const loginHint = query.get('loginHint');
  const domainHint = query.get('domainHint');

  const app = await services.msal.create();
  const authorizeUrl = await app.getAuthCodeUrl({
    scopes: signInScopes(config.graphScopes),
    redirectUri: config.redirectUri,
    responseMode: ResponseMode.QUERY,
    state: transaction.state,
    nonce: transaction.nonce,
    codeChallenge: transaction.codeChallenge,
    codeChallengeMethod: 'S256',
    ...(prompt && PROMPTS.has(prompt) ? { prompt } : {}),
    ...(loginHint && HINT.test(loginHint) ? { loginHint } : {}),
    ...(domainHint && HINT.test(domainHint) ? { domainHint } : {}),
    ...(claims ? { claims } : {}),
  });
  const sealer = await services.transactionSealer(transactionCookieValues(request));
  return redirect(authorizeUrl, { cookies: [...staleTransactionCookies(request, sealer), transactionCookie(transaction, sealer)] });
}

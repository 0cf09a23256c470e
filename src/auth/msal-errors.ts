/**
 * What a failed token call means for the user, decided by OAuth / MSAL error code, never by text
 * (oauth2-proxy's isFatalRefreshError, done for msal-node's errors).
 */
import { AppError, ErrorCode, unavailable } from '../errors';
import { loginUrl } from './claims';

export type TokenFailure =
  /** The grant is gone (expired, revoked, password reset, consent withdrawn): sign in again. */
  | { readonly kind: 'interaction_required'; readonly oauthError: string; readonly claims?: string }
  /** Entra rejected the app's own credential: renew it from the vault and retry once. */
  | { readonly kind: 'invalid_client' }
  /** Entra or the network failed transiently: 503, keep the session and the cache. */
  | { readonly kind: 'transient' }
  | { readonly kind: 'other'; readonly oauthError: string };

const INTERACTION = new Set([
  'invalid_grant',
  'interaction_required',
  'consent_required',
  'login_required',
  'bad_token',
  'no_tokens_found',
  'no_account_in_silent_request',
  'no_account_found',
  'refresh_token_expired',
  'native_account_unavailable',
  'ui_not_allowed',
]);

const TRANSIENT = new Set([
  'network_error',
  'endpoints_resolution_error',
  'openid_config_error',
  'no_network_connectivity',
  'temporarily_unavailable',
  'server_error',
  'request_timeout',
]);

interface MsalLikeError {
  errorCode?: unknown;
  subError?: unknown;
  status?: unknown;
  claims?: unknown;
}

export function classifyTokenError(error: unknown): TokenFailure {
  if (typeof error !== 'object' || error === null) return { kind: 'other', oauthError: 'unknown' };
  const e = error as MsalLikeError;
  const code = typeof e.errorCode === 'string' ? e.errorCode : '';
  const status = typeof e.status === 'number' ? e.status : undefined;
  if (code === 'invalid_client' || code === 'unauthorized_client') return { kind: 'invalid_client' };
  if (INTERACTION.has(code)) {
    const claims = typeof e.claims === 'string' && e.claims.length > 0 ? e.claims : undefined;
    return { kind: 'interaction_required', oauthError: code, ...(claims ? { claims } : {}) };
  }
  if (TRANSIENT.has(code) || (status !== undefined && (status >= 500 || status === 429))) return { kind: 'transient' };
  return { kind: 'other', oauthError: code || 'unknown' };
}

/** A login_required AppError whose details carry where to sign in again. */
export function loginRequired(loginUrl: string, message = 'Your session has ended. Sign in again to continue.', cause?: unknown): AppError {
  return new AppError(ErrorCode.LOGIN_REQUIRED, message, { status: 401, cause, details: { loginUrl } });
}

/** The 401 login_required of a request without a (live) session. */
export function notSignedIn(returnTo: string): AppError {
  return loginRequired(loginUrl(returnTo), 'You are not signed in. Sign in to continue.');
}

export function identityProviderUnavailable(cause: unknown): AppError {
  return unavailable(
    ErrorCode.IDENTITY_PROVIDER_UNAVAILABLE,
    'Microsoft sign-in is not answering right now. You are still signed in; try again in a few seconds.',
    cause,
    5,
  );
}

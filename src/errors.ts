/**
 * Stable error codes. Callers (and API clients) match on `code`, never on message text.
 * Every message says what the user or operator should do next, and never carries a token,
 * authorization code, verifier, session id or secret.
 */
export const ErrorCode = {
  /** No session, or the session or token cache can no longer be used: sign in again. */
  LOGIN_REQUIRED: 'login_required',
  BAD_REQUEST: 'bad_request',
  NOT_FOUND: 'not_found',
  METHOD_NOT_ALLOWED: 'method_not_allowed',
  PAYLOAD_TOO_LARGE: 'payload_too_large',
  FORBIDDEN_ORIGIN: 'forbidden_origin',
  /** The sign-in transaction is missing, expired, replayed or does not match the callback. */
  LOGIN_TRANSACTION_INVALID: 'login_transaction_invalid',
  /** Entra answered the sign-in with an error (access_denied, consent_required, ...). */
  LOGIN_FAILED: 'login_failed',
  STORAGE_UNAVAILABLE: 'storage_unavailable',
  IDENTITY_PROVIDER_UNAVAILABLE: 'identity_provider_unavailable',
  KEY_VAULT_UNAVAILABLE: 'key_vault_unavailable',
  GRAPH_UNAVAILABLE: 'graph_unavailable',
  GRAPH_ERROR: 'graph_error',
  /** Graph answered 403: the mail scope is not (or no longer) granted. */
  GRAPH_FORBIDDEN: 'graph_forbidden',
  /** Graph answered 404 for the mailbox: the account has no Exchange Online mailbox. */
  MAILBOX_UNAVAILABLE: 'mailbox_unavailable',
  CONFIG_INVALID: 'config_invalid',
  INTERNAL: 'internal_error',
  /** A state-changing API call without the `X-CSRF: 1` header (src/http/csrf.ts). */
  CSRF_HEADER_MISSING: 'csrf_header_missing',
  /** "Your devices": no session of the signed-in account has that id (ended already, or never). */
  SESSION_NOT_FOUND: 'session_not_found',
  /** The callback's `iss` (RFC 9207) is not the authority's issuer: the answer came from another provider (mix-up). */
  ISSUER_MISMATCH: 'issuer_mismatch',
  /** GET /api/ready: a dependency (storage, Key Vault, the authority) is not answering. */
  NOT_READY: 'not_ready',
  /** The account's tenant is not in ALLOWED_TENANTS (at sign-in: 403; later: login_required). */
  TENANT_NOT_ALLOWED: 'tenant_not_allowed',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface AppErrorOptions {
  readonly status: number;
  readonly cause?: unknown;
  /** Seconds the client should wait before retrying (sent as Retry-After on 429/503). */
  readonly retryAfterSeconds?: number;
  /** Extra fields safe to show the client (never secrets or tokens). */
  readonly details?: Readonly<Record<string, unknown>>;
}

export class AppError extends Error {
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    readonly code: ErrorCodeValue | (string & {}),
    message: string,
    options: AppErrorOptions,
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.details = options.details;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** A dependency failed transiently: 503 with Retry-After, the session and the cache are kept. */
export function unavailable(code: ErrorCodeValue, message: string, cause?: unknown, retryAfterSeconds = 5): AppError {
  return new AppError(code, message, { status: 503, cause, retryAfterSeconds });
}

export function badRequest(message: string, details?: Record<string, unknown>): AppError {
  return new AppError(ErrorCode.BAD_REQUEST, message, details === undefined ? { status: 400 } : { status: 400, details });
}

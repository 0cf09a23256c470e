/**
 * What a failed Key Vault read means, decided by status and error code (never by message text),
 * turned into an AppError whose message tells the operator what to change.
 *
 * - The vault (or the identity endpoint) is unreachable, slow or failing: 503
 *   `key_vault_unavailable` with Retry-After; the app tries again by itself.
 * - The secret is missing, disabled, unreadable by this identity, or holds something the app cannot
 *   use: 503 `config_invalid`, naming the vault, the secret, the setting and, for a refusal, the role
 *   and the identity that needs it.
 *
 * No message here quotes a secret value or an SDK message (those can quote request details): only
 * the vault URL, the secret name, setting names, status codes and error codes.
 */
import { AppError, ErrorCode } from '../errors';

/** The role a reading identity needs on an RBAC vault. */
export const SECRETS_USER_ROLE = 'Key Vault Secrets User';

/** What the messages need to say where and who. */
export interface SecretSite {
  /** The vault URL as configured (KEY_VAULT_URL). */
  readonly vaultUrl: string;
  readonly secretName: string;
  /** The setting that names the secret, e.g. CLIENT_SECRET_NAME. */
  readonly setting: string;
  /** AZURE_CLIENT_ID: the user-assigned managed identity; undefined = system-assigned. */
  readonly managedIdentityClientId: string | undefined;
}

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
  details?: unknown;
  response?: { headers?: { get?(name: string): string | undefined } } | undefined;
  errors?: unknown;
}

/** Status codes and error codes that mean "try again later", not "fix the configuration". */
const NETWORK_CODES = new Set([
  'REQUEST_SEND_ERROR',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Which identity reads the vault, in words an operator can act on. */
export function identityDescription(managedIdentityClientId: string | undefined): string {
  return managedIdentityClientId
    ? `the user-assigned managed identity with client id ${managedIdentityClientId} (AZURE_CLIENT_ID)`
    : "the app's system-assigned managed identity (AZURE_CLIENT_ID is not set)";
}

export function secretNotFound(site: SecretSite, cause?: unknown): AppError {
  return configInvalid(
    `Key Vault ${site.vaultUrl} has no secret "${site.secretName}": add it to the vault, or set ${site.setting} to the name of the secret that holds it.`,
    cause,
  );
}

export function secretForbidden(site: SecretSite, cause?: unknown): AppError {
  return configInvalid(
    `Key Vault ${site.vaultUrl} refused to let the app read secret "${site.secretName}" (403 Forbidden): give ` +
      `${identityDescription(site.managedIdentityClientId)} the role "${SECRETS_USER_ROLE}" on the vault ` +
      '(or, on a vault that uses access policies, a policy allowing Get on secrets). Role assignments take a few minutes to apply; the app retries by itself.',
    cause,
  );
}

export function secretDisabled(site: SecretSite, cause?: unknown): AppError {
  return configInvalid(
    `Key Vault ${site.vaultUrl}: the current version of secret "${site.secretName}" is disabled: enable it, or add a new enabled version.`,
    cause,
  );
}

/** The secret was read but its value is not what the app needs (`what` never quotes the value). */
export function secretUnusable(site: SecretSite, what: string, cause?: unknown): AppError {
  return configInvalid(`Key Vault ${site.vaultUrl}: secret "${site.secretName}" (${site.setting}) ${what}`, cause);
}

export function vaultUnavailable(site: SecretSite, reason: string, retryAfterSeconds: number, cause?: unknown): AppError {
  return new AppError(
    ErrorCode.KEY_VAULT_UNAVAILABLE,
    `Key Vault ${site.vaultUrl} is not answering (${reason}) while reading secret "${site.secretName}": the app retries by itself; try again in a few seconds.`,
    { status: 503, cause, retryAfterSeconds },
  );
}

function configInvalid(message: string, cause: unknown): AppError {
  return new AppError(ErrorCode.CONFIG_INVALID, message, { status: 503, cause });
}

/** Seconds from the vault's Retry-After header, when it sent one. */
export function retryAfterOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const header = (error as ErrorLike).response?.headers?.get?.('retry-after');
  if (header === undefined || header === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, Math.ceil((date - Date.now()) / 1000)) : undefined;
}

/**
 * Maps what `SecretClient.getSecret` (or its credential) threw. `retryAfterSeconds` is what the
 * reader's backoff allows; a transient error carries it (or the vault's own Retry-After if longer).
 */
export function mapVaultError(error: unknown, site: SecretSite, retryAfterSeconds: number): AppError {
  if (error instanceof AppError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as ErrorLike;
  const name = typeof e.name === 'string' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : '';
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;

  if (name === 'AbortError' || name === 'TimeoutError') return vaultUnavailable(site, 'no answer in time', retryAfterSeconds, error);

  // The credential could not get a token for the vault.
  if (name === 'CredentialUnavailableError' || name === 'AggregateAuthenticationError') {
    return configInvalid(
      `No identity could get a token to read secret "${site.secretName}" from Key Vault ${site.vaultUrl}: on Azure, turn on the app's managed identity ` +
        `(for a user-assigned one, set AZURE_CLIENT_ID to its client id); locally, sign in with \`az login\`. Then give it the role "${SECRETS_USER_ROLE}" on the vault.`,
      error,
    );
  }
  if (name === 'AuthenticationError') {
    if (status === undefined || status >= 500 || status === 429 || status === 408) {
      return vaultUnavailable(site, `the identity endpoint answered ${status ?? 'with a network error'}`, retryAfterSeconds, error);
    }
    return configInvalid(
      `${capitalize(identityDescription(site.managedIdentityClientId))} could not get a token to read Key Vault ${site.vaultUrl} (status ${status}): ` +
        'check that the identity exists and is attached to the app, and that AZURE_CLIENT_ID is its client id.',
      error,
    );
  }

  if (status === 404) return secretNotFound(site, error);
  if (status === 403) return innerCode(e) === 'SecretDisabled' ? secretDisabled(site, error) : secretForbidden(site, error);
  if (status === 401) {
    return configInvalid(
      `Key Vault ${site.vaultUrl} rejected the token of ${identityDescription(site.managedIdentityClientId)} (401): the vault must be in the identity's tenant.`,
      error,
    );
  }
  if (status === 400) {
    return configInvalid(`Key Vault ${site.vaultUrl} refused to read secret "${site.secretName}" (400 ${code || 'BadRequest'}): check ${site.setting}.`, error);
  }
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) {
    const vaultSays = retryAfterOf(error);
    return vaultUnavailable(site, `status ${status}`, Math.max(retryAfterSeconds, Math.min(vaultSays ?? 0, MAX_RETRY_AFTER_SECONDS)), error);
  }
  if (NETWORK_CODES.has(code) || status === undefined) {
    return vaultUnavailable(site, code ? `network error ${code}` : status === undefined && name !== 'RestError' ? 'unexpected error' : 'network error', retryAfterSeconds, error);
  }
  return configInvalid(`Key Vault ${site.vaultUrl} answered ${status} ${code} to reading secret "${site.secretName}".`, error);
}

/** The longest Retry-After the app passes on from the vault. */
export const MAX_RETRY_AFTER_SECONDS = 60;

/** Key Vault's `error.innererror.code` (the SDK deserializes it into `details` as `innerError`). */
export function innerCode(e: ErrorLike): string | undefined {
  type Inner = { code?: unknown } | undefined;
  const details = e.details as { error?: { innerError?: Inner; innererror?: Inner } } | undefined;
  const inner = details?.error?.innerError?.code ?? details?.error?.innererror?.code;
  return typeof inner === 'string' ? inner : undefined;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

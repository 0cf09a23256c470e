/**
 * CLIENT_CREDENTIAL=managedIdentity: the app has no secret at all. The app registration trusts a
 * user-assigned managed identity through a federated identity credential (issuer
 * `https://login.microsoftonline.com/<tenant>/v2.0`, subject = the identity's object id, audience
 * `api://AzureADTokenExchange`). To prove itself, the app asks its managed identity for a token for
 * `api://AzureADTokenExchange` and hands it to Entra as the client assertion.
 *
 * msal-node calls the assertion callback on every token request, so the assertion is cached until
 * shortly before it expires (`refreshBeforeMs`, default 5 min), and concurrent callers share one
 * fetch. A failed fetch is not cached: the next call tries again.
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import type { ClientAssertionCallback } from '@azure/msal-node';
import { identityProviderUnavailable } from '../auth/msal-errors';
import { systemClock, type Clock } from '../clock';
import { AppError, ErrorCode } from '../errors';
import type { SecretLogger } from './cached-secret';
import type { ClientCredentialProvider } from './types';

/** Audience of the token-exchange assertion, per cloud. */
export function tokenExchangeAudience(cloudInstance: string): string {
  const host = new URL(cloudInstance).hostname.toLowerCase();
  if (host === 'login.microsoftonline.us') return 'api://AzureADTokenExchangeUSGov';
  if (host === 'login.chinacloudapi.cn' || host === 'login.partner.microsoftonline.cn') return 'api://AzureADTokenExchangeChina';
  return 'api://AzureADTokenExchange';
}

export interface ManagedIdentityAssertionOptions {
  /** The user-assigned managed identity (ManagedIdentityCredential with its client id). */
  readonly credential: TokenCredential;
  /** AZURE_CLIENT_ID, for messages. */
  readonly managedIdentityClientId: string;
  /** Default `api://AzureADTokenExchange`. */
  readonly audience?: string;
  readonly clock?: Clock;
  /** Fetch a new assertion this long before the cached one expires. Default 5 minutes. */
  readonly refreshBeforeMs?: number;
  /** renew() fetches at most this often. Default 30 seconds. */
  readonly minRenewIntervalMs?: number;
  /** Default 10 seconds. */
  readonly timeoutMs?: number;
  readonly log?: SecretLogger;
}

export interface ManagedIdentityAssertionProvider extends ClientCredentialProvider {
  /** Counters for tests and diagnostics. */
  readonly stats: { fetches: number; failures: number };
  /** The callback msal-node calls (also inside `current()`). */
  readonly assertion: ClientAssertionCallback;
}

/** Tokens whose remaining life is below this are never handed out, even when a refresh failed. */
const MIN_USABLE_MS = 60_000;

export function managedIdentityAssertion(options: ManagedIdentityAssertionOptions): ManagedIdentityAssertionProvider {
  const clock = options.clock ?? systemClock;
  const audience = options.audience ?? 'api://AzureADTokenExchange';
  const scope = `${audience}/.default`;
  const refreshBeforeMs = options.refreshBeforeMs ?? 5 * 60_000;
  const minRenewIntervalMs = options.minRenewIntervalMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const stats = { fetches: 0, failures: 0 };
  let cached: AccessToken | undefined;
  let inflight: Promise<AccessToken> | undefined;
  let lastRenewAt = Number.NEGATIVE_INFINITY;

  const fetchToken = (): Promise<AccessToken> => {
    inflight ??= (async () => {
      stats.fetches++;
      let token: AccessToken | null;
      try {
        const getTokenOptions: GetTokenOptions = { abortSignal: AbortSignal.timeout(timeoutMs) };
        token = await options.credential.getToken(scope, getTokenOptions);
      } catch (error) {
        stats.failures++;
        throw mapIdentityError(error, options.managedIdentityClientId, audience);
      }
      if (!token?.token) {
        stats.failures++;
        throw mapIdentityError(undefined, options.managedIdentityClientId, audience);
      }
      cached = token;
      return token;
    })().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };

  const assertion: ClientAssertionCallback = async () => {
    const now = clock();
    const held = cached;
    if (held !== undefined && held.expiresOnTimestamp - refreshBeforeMs > now) return held.token;
    try {
      return (await fetchToken()).token;
    } catch (error) {
      // Still valid for a while: use it, and try again on the next call.
      if (held !== undefined && held.expiresOnTimestamp - MIN_USABLE_MS > clock()) {
        options.log?.warn(
          `Managed identity: could not refresh the client assertion; using the one held until it expires. ${error instanceof AppError ? `${error.code}: ${error.message}` : ''}`,
        );
        return held.token;
      }
      throw error;
    }
  };

  return {
    stats,
    assertion,
    current: async () => ({ clientAssertion: assertion }),
    async renew() {
      // Entra refused the assertion: a cached one may have been revoked or issued before the
      // federated credential was fixed. Fetch anew (at most every minRenewIntervalMs).
      const now = clock();
      if (now - lastRenewAt < minRenewIntervalMs) return false;
      lastRenewAt = now;
      const before = cached?.token;
      cached = undefined;
      const token = await fetchToken();
      return token.token !== before;
    },
  };
}

function mapIdentityError(error: unknown, clientId: string, audience: string): AppError {
  const e = (typeof error === 'object' && error !== null ? error : {}) as { name?: unknown; statusCode?: unknown };
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const transient =
    e.name === 'AbortError' ||
    e.name === 'TimeoutError' ||
    (e.name === 'AuthenticationError' && (status === undefined || status >= 500 || status === 429 || status === 408));
  if (transient) return identityProviderUnavailable(error);
  const what =
    e.name === 'CredentialUnavailableError' || e.name === 'AggregateAuthenticationError'
      ? 'no managed identity endpoint answered'
      : status !== undefined
        ? `the managed identity endpoint answered ${status}`
        : 'the managed identity returned no token';
  return new AppError(
    ErrorCode.CONFIG_INVALID,
    `CLIENT_CREDENTIAL=managedIdentity: the app could not get a token for ${audience} from the user-assigned managed identity with client id ${clientId} (AZURE_CLIENT_ID): ${what}. ` +
      'Attach that identity to the app, and add a federated identity credential for it to the app registration.',
    { status: 503, cause: error, retryAfterSeconds: 30 },
  );
}

/**
 * The emulated Azure started once for the whole jest run (test/global-setup.js runs
 * dist-dev/emulators.mjs and puts its EMULATORS_READY JSON in process.env.EMULATORS_JSON), and
 * small clients for the emulators' admin routes. Plain HTTPS through global fetch, which trusts
 * the test CA through NODE_EXTRA_CA_CERTS (npm test runs under scripts/with-test-ca.mjs).
 *
 * Test code never imports oidc-provider or jose (ESM-only): it talks to the emulators over HTTPS.
 */
import type { EmulatorsInfo } from '../../emulators/cli';

export type { EmulatorsInfo };

let cached: EmulatorsInfo | undefined;

/** The running emulators (URLs, ids, secrets, users, app settings). */
export function emulators(): EmulatorsInfo {
  if (cached) return cached;
  const raw = process.env['EMULATORS_JSON'];
  if (!raw) {
    throw new Error(
      'EMULATORS_JSON is not set: the emulators are started by test/global-setup.js. Run the tests with `npm test` ' +
        '(or `node scripts/with-test-ca.mjs npx jest ...`) so that jest uses the global setup and trusts the test CA.',
    );
  }
  cached = JSON.parse(raw) as EmulatorsInfo;
  return cached;
}

/** A user of the emulated tenant, by username (adele@contoso.test, megan@contoso.test, lee@contoso.test). */
export function entraUser(username: string): EmulatorsInfo['entra']['users'][number] {
  const user = emulators().entra.users.find((u) => u.username === username);
  if (!user) throw new Error(`no emulated user ${username}`);
  return user;
}

// -------------------------------------------------------------------------------------------------
// Entra admin
// -------------------------------------------------------------------------------------------------

export interface EntraSettings {
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  refreshTokenReuseDetection: boolean;
  latencyMs: number;
}

export interface EntraUserStats {
  signIns: number;
  authorizationCodeRedemptions: number;
  refreshTokenRedemptions: number;
}

export interface EntraStats {
  authorizeRequests: number;
  signIns: number;
  failedSignIns: number;
  tokenRequests: number;
  tokenRequestsByGrant: Record<string, number>;
  tokenErrors: Record<string, number>;
  authorizationCodeRedemptions: number;
  refreshTokenRedemptions: number;
  clientCredentialsGrants: number;
  refreshTokenReuseDetected: number;
  rotatedRefreshTokenRedemptionAttempts: number;
  managedIdentityTokens: number;
  clientAuthentications: Record<string, number>;
  faultsServed: number;
  claimsRequests: number;
  lastClaims: string | null;
  lastAuthorizeClaims: string | null;
  lastTokenClaims: string | null;
  byUser: Record<string, EntraUserStats>;
}

export interface EntraFault {
  /** e.g. 503 */
  readonly status: number;
  /** How many requests fail; 0 clears the fault. */
  readonly count: number;
  /** Retry-After seconds (default 1; 0 = none). */
  readonly retryAfterSeconds?: number;
  /** Default 'token'. */
  readonly endpoint?: 'token' | 'authorize' | 'discovery' | 'jwks' | 'msi' | 'all';
}

async function adminCall<T>(baseUrl: string, method: string, path: string, body?: unknown): Promise<T> {
  const url = new URL(`_emulator/${path}`, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).href;
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url} answered ${response.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

const entra = (method: string, path: string, body?: unknown): Promise<unknown> => adminCall(emulators().entra.url, method, path, body);

export const entraAdmin = {
  /** Changes settings at runtime; returns the settings now in force. */
  setSettings: (patch: Partial<EntraSettings>): Promise<EntraSettings> => entra('PUT', 'settings', patch) as Promise<EntraSettings>,
  settings: (): Promise<EntraSettings> => entra('GET', 'settings') as Promise<EntraSettings>,
  /** Revokes every grant and session of the user (admin revocation / password reset). */
  revokeUser: async (username: string): Promise<number> =>
    ((await entra('POST', `users/${encodeURIComponent(username)}/revoke`)) as { revokedGrants: number }).revokedGrants,
  stats: (): Promise<EntraStats> => entra('GET', 'stats') as Promise<EntraStats>,
  resetStats: async (): Promise<void> => {
    await entra('POST', 'stats/reset');
  },
  /** Replaces the accepted client secrets (one, or several during a rotation). */
  setClientSecret: async (secret: string | readonly string[]): Promise<void> => {
    await entra('PUT', 'client-secret', typeof secret === 'string' ? { secret } : { secrets: secret });
  },
  /** Replaces the certificates (PEM) accepted for client assertions. */
  setClientCertificates: async (certificates: readonly string[]): Promise<void> => {
    await entra('PUT', 'client-certificates', { certificates });
  },
  /** Replaces the registered redirect / post-logout URIs (loopback URIs match on any port anyway). */
  setRedirectUris: async (uris: { redirectUris?: readonly string[]; postLogoutRedirectUris?: readonly string[] }): Promise<void> => {
    await entra('PUT', 'redirect-uris', uris);
  },
  /** The next `count` requests to the endpoint (token by default) fail with `status`. */
  fault: async (fault: EntraFault): Promise<void> => {
    await entra('POST', 'fault', fault);
  },
  /** Settings, stats, fault, secrets, certificates and redirect URIs back to how they started. */
  reset: async (): Promise<void> => {
    await entra('POST', 'reset');
  },
};

/** Generic admin access to the other emulators (their routes are documented in their modules). */
export const emulatorAdmin = {
  graph: <T = unknown>(method: string, path: string, body?: unknown): Promise<T> => adminCall<T>(emulators().graph.url, method, path, body),
  keyVault: <T = unknown>(method: string, path: string, body?: unknown): Promise<T> => adminCall<T>(emulators().keyVault.url, method, path, body),
};

/** The host:port of the emulated Entra, for msal-node's `knownAuthorities`. */
export function entraHost(): string {
  return new URL(emulators().entra.url).host;
}

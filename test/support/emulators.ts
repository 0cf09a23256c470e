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

// The emulator's own declarations (a type-only import: nothing of oidc-provider is loaded here).
export type { EntraStats, UserStats as EntraUserStats } from '../../emulators/entra';
import type { EntraStats } from '../../emulators/entra';

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

/** One admin route (`_emulator/<path>`) of the emulator at `baseUrl`; throws when it does not answer 2xx. */
export async function adminCall<T>(baseUrl: string, method: string, path: string, body?: unknown): Promise<T> {
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

export interface EntraUser {
  readonly username: string;
  readonly password: string;
  readonly name: string;
  readonly oid: string;
  /** Set when the user is not of the home tenant (its username's domain decides). */
  readonly tenantId?: string;
}

export interface EntraTestClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly servicePrincipalId: string;
  /** App settings that point the app at this client: spread over `emulators().env`. */
  readonly env: { readonly CLIENT_ID: string; readonly CLIENT_SECRET: string };
  /** The admin controls of this client only. */
  readonly admin: EntraClientAdmin;
}

/**
 * Admin controls of one app registration. Settings, faults, stats, secrets and redirect URIs are
 * per client in the emulator, so a test file that changes them should use its own client
 * (`entraAdmin.createClient()`): jest runs test files in parallel against the same emulator.
 */
export interface EntraClientAdmin {
  /** Changes settings at runtime; returns the settings now in force. */
  setSettings(patch: Partial<EntraSettings>): Promise<EntraSettings>;
  settings(): Promise<EntraSettings>;
  stats(): Promise<EntraStats>;
  resetStats(): Promise<void>;
  /** Replaces the accepted client secrets (one, or several during a rotation). */
  setClientSecret(secret: string | readonly string[]): Promise<void>;
  /** Replaces the certificates (PEM) accepted for client assertions. */
  setClientCertificates(certificates: readonly string[]): Promise<void>;
  /** Replaces the registered redirect / post-logout URIs (loopback URIs match on any port anyway). */
  setRedirectUris(uris: { redirectUris?: readonly string[]; postLogoutRedirectUris?: readonly string[] }): Promise<void>;
  /** The next `count` token requests (or `endpoint`) of this client fail with `status`. */
  fault(fault: EntraFault): Promise<void>;
  /** Settings, stats, fault, secrets, certificates and redirect URIs back to how they started. */
  reset(): Promise<void>;
}

function clientAdmin(clientId: string | undefined): EntraClientAdmin {
  const q = clientId ? `?client_id=${encodeURIComponent(clientId)}` : '';
  return {
    setSettings: (patch) => entra('PUT', `settings${q}`, patch) as Promise<EntraSettings>,
    settings: () => entra('GET', `settings${q}`) as Promise<EntraSettings>,
    stats: () => entra('GET', `stats${q}`) as Promise<EntraStats>,
    resetStats: async () => {
      await entra('POST', `stats/reset${q}`);
    },
    setClientSecret: async (secret) => {
      await entra('PUT', `client-secret${q}`, typeof secret === 'string' ? { secret } : { secrets: secret });
    },
    setClientCertificates: async (certificates) => {
      await entra('PUT', `client-certificates${q}`, { certificates });
    },
    setRedirectUris: async (uris) => {
      await entra('PUT', `redirect-uris${q}`, uris);
    },
    fault: async (fault) => {
      await entra('POST', `fault${q}`, fault);
    },
    reset: async () => {
      await entra('POST', `reset${q}`);
    },
  };
}

/** Admin controls of the default client (the one in `emulators().env`), plus tenant-wide ones. */
export const entraAdmin = {
  ...clientAdmin(undefined),
  /** The controls of another client. */
  forClient: (clientId: string): EntraClientAdmin => clientAdmin(clientId),
  /** A new app registration with its own secret, settings, faults and stats (same redirect URIs as the default). */
  createClient: async (options: { secrets?: readonly string[]; certificates?: readonly string[]; redirectUris?: readonly string[]; postLogoutRedirectUris?: readonly string[] } = {}): Promise<EntraTestClient> => {
    const created = (await entra('POST', 'clients', options)) as { clientId: string; clientSecret: string; servicePrincipalId: string };
    return { ...created, env: { CLIENT_ID: created.clientId, CLIENT_SECRET: created.clientSecret }, admin: clientAdmin(created.clientId) };
  },
  /** A new user (random oid, password Passw0rd! unless given): revoke it without disturbing other test files. */
  createUser: (user: Partial<EntraUser> = {}): Promise<EntraUser> => entra('POST', 'users', user) as Promise<EntraUser>,
  /** Revokes every grant and session of the user, for every client (admin revocation / password reset). */
  revokeUser: async (username: string): Promise<number> =>
    ((await entra('POST', `users/${encodeURIComponent(username)}/revoke`)) as { revokedGrants: number }).revokedGrants,
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

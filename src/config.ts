/**
 * The app's settings: the public interface deployers set as app settings (Bicep writes them,
 * `local.settings.sample.json` lists them, the README documents each one).
 *
 * Parsed once, checked together: a bad deployment fails at start with one message that lists
 * every missing or invalid setting and what to set, instead of failing one request at a time.
 */

import { isGuid, parseAllowedTenants, tenantMode, type TenantAllowList, type TenantMode } from './auth/issuer';

export type ClientCredentialKind = 'secret' | 'certificate' | 'managedIdentity';

export interface SettingSpec {
  readonly name: string;
  readonly description: string;
  /** Default used when the setting is absent or empty. */
  readonly default?: string;
  /**
   * Local development only: never written by `infra/main.bicep` (a plain secret in app settings,
   * or a knob that only makes sense on a developer's machine).
   */
  readonly localOnly?: boolean;
}

/** Every setting the code reads. The infra contract test compares this list with main.bicep. */
export const SETTINGS = [
  {
    name: 'TENANT_ID',
    description:
      'Entra tenant id (a GUID) or verified domain for one tenant; `organizations` for work or school accounts, `common` for those and personal accounts, `consumers` for personal accounts only (see ALLOWED_TENANTS).',
  },
  { name: 'CLIENT_ID', description: 'The app registration\'s application (client) id.' },
  {
    name: 'CLOUD_INSTANCE',
    default: 'https://login.microsoftonline.com/',
    description: 'Authority host; the authority is CLOUD_INSTANCE + TENANT_ID.',
  },
  {
    name: 'PUBLIC_BASE_URL',
    description: 'The app\'s public origin, such as https://myapp.azurewebsites.net; the redirect URI is PUBLIC_BASE_URL/api/callback.',
  },
  { name: 'KEY_VAULT_URL', description: 'When set, secrets come from this vault through DefaultAzureCredential.' },
  {
    name: 'CLIENT_CREDENTIAL',
    default: 'secret',
    description: 'How the app proves its identity to Entra: secret, certificate or managedIdentity.',
  },
  { name: 'CLIENT_SECRET_NAME', default: 'client-secret', description: 'Name of the client secret in the vault.' },
  {
    name: 'CLIENT_CERTIFICATE_NAME',
    default: 'client-certificate',
    description: 'Name of the client certificate in the vault (CLIENT_CREDENTIAL=certificate).',
  },
  {
    name: 'KEY_RING_SECRET_NAME',
    default: 'key-ring',
    description: 'Name of the vault secret holding the key ring that seals cookies and the token cache.',
  },
  {
    name: 'AZURE_CLIENT_ID',
    description: 'Client id of the user-assigned managed identity (selects it for DefaultAzureCredential and for CLIENT_CREDENTIAL=managedIdentity).',
  },
  { name: 'CLIENT_SECRET', localOnly: true, description: 'Local development only: the client secret, used when KEY_VAULT_URL is unset.' },
  {
    name: 'KEY_RING',
    localOnly: true,
    description: 'Local development only: the key ring, `kid:base64key` entries separated by commas, newest first; used when KEY_VAULT_URL is unset.',
  },
  { name: 'GRAPH_API_ENDPOINT', default: 'https://graph.microsoft.com/', description: 'Microsoft Graph endpoint.' },
  { name: 'GRAPH_SCOPES', default: 'Mail.Read', description: 'Delegated Graph scopes requested at sign-in, separated by spaces.' },
  { name: 'TABLES_ENDPOINT', description: 'Table Storage endpoint, reached with the managed identity (Azure).' },
  {
    name: 'TABLES_CONNECTION_STRING',
    localOnly: true,
    description: 'Table Storage connection string (Azurite); used instead of TABLES_ENDPOINT.',
  },
  { name: 'SESSION_IDLE_TIMEOUT_HOURS', default: '336', description: 'Sign a user out after this long without a visit (sliding).' },
  {
    name: 'SESSION_ABSOLUTE_TIMEOUT_HOURS',
    default: '2160',
    description: 'Sign a user out this long after sign-in, whatever their activity (default 90 days, the refresh-token lifetime).',
  },
  {
    name: 'SESSION_MEMORY_TTL_SECONDS',
    default: '30',
    description:
      'How long an instance remembers a session it read from storage (each use still confirms its row with one small read, so a sign-out anywhere takes effect at once). 0 reads the session in full on every request.',
  },
  {
    name: 'TOKEN_CACHE_MEMORY_MB',
    default: '32',
    description: 'Size bound of the per-instance in-memory copy of token-cache rows; 0 turns it off.',
  },
  {
    name: 'TOKEN_CACHE_MEMORY_TTL_SECONDS',
    default: '30',
    description: 'How long an instance trusts its in-memory copy of a token-cache row before reading storage again.',
  },
  {
    name: 'HSTS_INCLUDE_SUBDOMAINS',
    default: 'true',
    description:
      'true or false: whether the Strict-Transport-Security header (max-age one year, on every response) also covers every subdomain of the app\'s host.',
  },
  {
    name: 'ALLOWED_TENANTS',
    description:
      'Tenants whose users may sign in, comma-separated tenant ids, `consumers` for personal accounts, or `*` for any; required when TENANT_ID is organizations or common, else unset.',
  },
] as const satisfies readonly SettingSpec[];

export type SettingName = (typeof SETTINGS)[number]['name'];

export interface Config {
  readonly tenantId: string;
  readonly clientId: string;
  /** Always ends with a slash. */
  readonly cloudInstance: string;
  /** CLOUD_INSTANCE + TENANT_ID, no trailing slash. */
  readonly authority: string;
  /**
   * Hosts msal-node must trust without Microsoft instance discovery: the authority host when it is
   * not a Microsoft cloud (a local emulator, a sovereign test tenant behind a proxy).
   */
  readonly knownAuthorities: readonly string[];
  /** Origin only, no trailing slash. */
  readonly publicBaseUrl: string;
  readonly redirectUri: string;
  readonly keyVaultUrl: string | undefined;
  readonly clientCredential: ClientCredentialKind;
  readonly clientSecretName: string;
  readonly clientCertificateName: string;
  readonly keyRingSecretName: string;
  readonly managedIdentityClientId: string | undefined;
  readonly clientSecret: string | undefined;
  readonly keyRing: string | undefined;
  /** Always ends with a slash. */
  readonly graphEndpoint: string;
  readonly graphScopes: readonly string[];
  readonly tables: { readonly endpoint: string | undefined; readonly connectionString: string | undefined };
  readonly session: { readonly idleTimeoutSeconds: number; readonly absoluteTimeoutSeconds: number; readonly memoryTtlSeconds: number };
  readonly tokenCacheMemory: { readonly maxBytes: number; readonly ttlSeconds: number };
  /** Strict-Transport-Security's includeSubDomains (HSTS_INCLUDE_SUBDOMAINS). */
  readonly hstsIncludeSubDomains: boolean;
  /** What TENANT_ID signs in: one tenant, or one of Entra's multi-tenant authorities. */
  readonly tenantMode: TenantMode;
  /** ALLOWED_TENANTS: whose sign-ins the callback accepts (src/auth/issuer.ts). */
  readonly allowedTenants: TenantAllowList;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: readonly string[]) {
    super(
      `The app cannot start: ${problems.length} setting${problems.length === 1 ? ' is' : 's are'} missing or invalid.\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        '\nSet them as app settings in Azure, or in local.settings.json for local runs (see local.settings.sample.json and the README).',
    );
    this.name = 'ConfigError';
  }
}

const MICROSOFT_AUTHORITY_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.partner.microsoftonline.cn',
  'login.chinacloudapi.cn',
  'login.windows.net',
  'login.microsoft.com',
  'sts.windows.net',
]);

const TENANT_ALIASES = new Set(['organizations', 'common', 'consumers']);
const KEY_RING_ENTRY = /^[A-Za-z0-9._-]{1,64}:[A-Za-z0-9+/=_-]+$/;

type Env = Readonly<Record<string, string | undefined>>;

/** Reads and checks every setting; throws one ConfigError listing all problems. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const raw = (name: SettingName): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const withDefault = (name: SettingName): string => {
    const spec: SettingSpec = SETTINGS.find((s) => s.name === name)!;
    return raw(name) ?? spec.default ?? '';
  };
  const required = (name: SettingName, what: string): string => {
    const value = raw(name);
    if (value === undefined) problems.push(`${name} is missing: set it to ${what}.`);
    return value ?? '';
  };
  const url = (name: SettingName, value: string | undefined, opts: { allowLocalHttp: boolean }): URL | undefined => {
    if (value === undefined || value === '') return undefined;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      problems.push(`${name} is not a URL ("${value}"): set it to an absolute https:// URL.`);
      return undefined;
    }
    const local = parsed.hostname === 'localhost' || parsed.hostname === '127.0.0.1' || parsed.hostname === '[::1]';
    if (parsed.protocol !== 'https:' && !(opts.allowLocalHttp && local && parsed.protocol === 'http:')) {
      problems.push(
        `${name} must use https:// ("${value}")${opts.allowLocalHttp ? '; http:// is accepted only for localhost' : ''}.`,
      );
      return undefined;
    }
    if (parsed.username || parsed.password || parsed.search || parsed.hash) {
      problems.push(`${name} must not carry credentials, a query or a fragment ("${value}").`);
      return undefined;
    }
    return parsed;
  };
  const positiveNumber = (name: SettingName, opts: { allowZero: boolean }): number => {
    const text = withDefault(name);
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0 || (!opts.allowZero && value === 0)) {
      problems.push(`${name} must be a ${opts.allowZero ? 'non-negative' : 'positive'} number ("${text}").`);
      return 0;
    }
    return value;
  };

  const tenantId = required('TENANT_ID', 'your Entra tenant id (a GUID) or "organizations"');
  if (tenantId && !isGuid(tenantId) && !TENANT_ALIASES.has(tenantId) && !/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(tenantId)) {
    problems.push(`TENANT_ID must be a tenant GUID, a verified domain, "organizations", "common" or "consumers" ("${tenantId}").`);
  }
  const allowed = parseAllowedTenants(raw('ALLOWED_TENANTS'), tenantId || 'organizations');
  if (tenantId) problems.push(...allowed.problems);
  const clientId = required('CLIENT_ID', 'the application (client) id of your app registration');
  if (clientId && !isGuid(clientId)) problems.push(`CLIENT_ID must be a GUID ("${clientId}").`);

  const cloudInstanceUrl = url('CLOUD_INSTANCE', withDefault('CLOUD_INSTANCE'), { allowLocalHttp: false });
  const cloudInstance = cloudInstanceUrl ? ensureSlash(cloudInstanceUrl.href) : '';

  const publicBaseRaw = required('PUBLIC_BASE_URL', "the app's public origin, such as https://<app>.azurewebsites.net");
  const publicBase = url('PUBLIC_BASE_URL', publicBaseRaw, { allowLocalHttp: true });
  if (publicBase && publicBase.pathname !== '/') {
    problems.push(`PUBLIC_BASE_URL must be an origin with no path ("${publicBaseRaw}"): the app serves /api/... from its root.`);
  }
  const publicBaseUrl = publicBase ? publicBase.origin : '';

  const keyVaultUrl = url('KEY_VAULT_URL', raw('KEY_VAULT_URL'), { allowLocalHttp: false })?.origin;

  const credentialText = withDefault('CLIENT_CREDENTIAL');
  let clientCredential: ClientCredentialKind = 'secret';
  if (credentialText === 'secret' || credentialText === 'certificate' || credentialText === 'managedIdentity') {
    clientCredential = credentialText;
  } else {
    problems.push(`CLIENT_CREDENTIAL must be secret, certificate or managedIdentity ("${credentialText}").`);
  }

  const managedIdentityClientId = raw('AZURE_CLIENT_ID');
  if (managedIdentityClientId && !isGuid(managedIdentityClientId)) {
    problems.push(`AZURE_CLIENT_ID must be the client id (a GUID) of a user-assigned managed identity ("${managedIdentityClientId}").`);
  }
  const clientSecret = raw('CLIENT_SECRET');
  const keyRing = raw('KEY_RING');

  if (keyVaultUrl === undefined && raw('KEY_VAULT_URL') === undefined) {
    if (clientCredential === 'secret' && clientSecret === undefined) {
      problems.push('CLIENT_SECRET is missing: without KEY_VAULT_URL the app needs the client secret locally (or set KEY_VAULT_URL).');
    }
    if (clientCredential === 'certificate') {
      problems.push('CLIENT_CREDENTIAL=certificate needs KEY_VAULT_URL: the certificate is read from the vault.');
    }
    if (keyRing === undefined) {
      problems.push(
        'KEY_RING is missing: without KEY_VAULT_URL set it to `kid:base64key` (32 random bytes, base64), or set KEY_VAULT_URL.',
      );
    }
  }
  if (clientCredential === 'managedIdentity' && managedIdentityClientId === undefined) {
    problems.push('CLIENT_CREDENTIAL=managedIdentity needs AZURE_CLIENT_ID: the user-assigned identity the app registration trusts.');
  }
  if (keyRing !== undefined) {
    const entries = keyRing.split(',').map((e) => e.trim());
    if (entries.some((e) => !KEY_RING_ENTRY.test(e))) {
      problems.push('KEY_RING must be `kid:base64key` entries separated by commas, newest first (the values are not shown).');
    }
  }

  const graphEndpointUrl = url('GRAPH_API_ENDPOINT', withDefault('GRAPH_API_ENDPOINT'), { allowLocalHttp: false });
  const graphScopes = withDefault('GRAPH_SCOPES').split(/\s+/).filter(Boolean);
  if (graphScopes.length === 0) problems.push('GRAPH_SCOPES must name at least one delegated Graph scope, such as Mail.Read.');

  const tablesEndpoint = url('TABLES_ENDPOINT', raw('TABLES_ENDPOINT'), { allowLocalHttp: true })?.href;
  const tablesConnectionString = raw('TABLES_CONNECTION_STRING');
  if (raw('TABLES_ENDPOINT') === undefined && tablesConnectionString === undefined) {
    problems.push(
      'TABLES_ENDPOINT or TABLES_CONNECTION_STRING is missing: set TABLES_ENDPOINT to https://<account>.table.core.windows.net (managed identity), or TABLES_CONNECTION_STRING for Azurite.',
    );
  }

  const idleHours = positiveNumber('SESSION_IDLE_TIMEOUT_HOURS', { allowZero: false });
  const absoluteHours = positiveNumber('SESSION_ABSOLUTE_TIMEOUT_HOURS', { allowZero: false });
  if (idleHours > 0 && absoluteHours > 0 && idleHours > absoluteHours) {
    problems.push('SESSION_IDLE_TIMEOUT_HOURS must not exceed SESSION_ABSOLUTE_TIMEOUT_HOURS.');
  }
  const sessionMemoryTtl = positiveNumber('SESSION_MEMORY_TTL_SECONDS', { allowZero: true });
  const memoryMb = positiveNumber('TOKEN_CACHE_MEMORY_MB', { allowZero: true });
  const memoryTtl = positiveNumber('TOKEN_CACHE_MEMORY_TTL_SECONDS', { allowZero: true });
  const hstsText = withDefault('HSTS_INCLUDE_SUBDOMAINS').toLowerCase();
  if (hstsText !== 'true' && hstsText !== 'false') problems.push(`HSTS_INCLUDE_SUBDOMAINS must be true or false ("${withDefault('HSTS_INCLUDE_SUBDOMAINS')}").`);

  if (problems.length > 0) throw new ConfigError(problems);

  const authorityHost = new URL(cloudInstance).host;
  return {
    tenantId,
    clientId,
    cloudInstance,
    authority: `${cloudInstance}${tenantId}`,
    knownAuthorities: MICROSOFT_AUTHORITY_HOSTS.has(authorityHost) ? [] : [authorityHost],
    publicBaseUrl,
    redirectUri: `${publicBaseUrl}/api/callback`,
    keyVaultUrl,
    clientCredential,
    clientSecretName: withDefault('CLIENT_SECRET_NAME'),
    clientCertificateName: withDefault('CLIENT_CERTIFICATE_NAME'),
    keyRingSecretName: withDefault('KEY_RING_SECRET_NAME'),
    managedIdentityClientId,
    clientSecret,
    keyRing,
    graphEndpoint: ensureSlash(graphEndpointUrl!.href),
    graphScopes,
    tables: { endpoint: tablesEndpoint, connectionString: tablesConnectionString },
    session: {
      idleTimeoutSeconds: Math.round(idleHours * 3600),
      absoluteTimeoutSeconds: Math.round(absoluteHours * 3600),
      memoryTtlSeconds: sessionMemoryTtl,
    },
    tokenCacheMemory: { maxBytes: Math.round(memoryMb * 1024 * 1024), ttlSeconds: memoryTtl },
    hstsIncludeSubDomains: hstsText === 'true',
    tenantMode: tenantMode(tenantId),
    allowedTenants: allowed.allowList,
  };
}

function ensureSlash(href: string): string {
  return href.endsWith('/') ? href : `${href}/`;
}

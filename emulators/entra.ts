/**
 * Emulated Microsoft Entra ID (v2 endpoints) on oidc-provider, over HTTPS, for local runs and tests.
 *
 * Layout mirrors login.microsoftonline.com, with the emulator's origin as the cloud instance:
 *   {origin}/{tenant}/v2.0/.well-known/openid-configuration   discovery (issuer {origin}/{tenant}/v2.0)
 *   {origin}/{tenant}/oauth2/v2.0/authorize                   authorization (code + PKCE S256 only)
 *   {origin}/{tenant}/oauth2/v2.0/token                       token (authorization_code, refresh_token, client_credentials)
 *   {origin}/{tenant}/oauth2/v2.0/logout                      end session
 *   {origin}/{tenant}/discovery/v2.0/keys                     JWKS (RS256, `kid`)
 *   {origin}/{tenant}/login/{uid}                             the sign-in page (form fields `username`, `password`)
 *   {origin}/msi/token                                        App Service managed-identity endpoint (IDENTITY_ENDPOINT)
 *   {origin}/_emulator/...                                    admin routes (JSON), see handleAdmin
 * Several tenants (emulators/entra-tenants.ts): `{tenant}` is a tenant id or verified domain of one
 * of them, or Entra's `organizations`, `common` and `consumers` authorities (issuer template
 * `{origin}/{tenantid}/v2.0`); `{tenant}/v2.0/adminconsent` is the admin consent endpoint.
 *
 * What the token endpoint does on top of oidc-provider (a thin layer in front of it, and a
 * post-processing middleware):
 *  - client authentication the Entra way: a list of client secrets (rotatable), certificate client
 *    assertions (x5t / x5t#S256 of a registered certificate), and federated assertions (workload
 *    identity federation: a JWT this emulator issued through /msi/token for api://AzureADTokenExchange
 *    whose subject is the configured managed identity). oidc-provider itself only sees an internal
 *    secret once the caller is authenticated.
 *  - Entra scope syntax: `https://graph.microsoft.com/Mail.Read` or `Mail.Read` (Graph is the
 *    default resource), `<resource>/.default`; one resource per request; mapped to RFC 8707
 *    resource indicators so that access tokens are JWTs for that audience.
 *  - refresh tokens only with offline_access, a new one on every use; as in Entra the redeemed one
 *    stays redeemable until it expires or is revoked, unless `refreshTokenReuseDetection` is on:
 *    then redeeming it again fails with invalid_grant and revokes the whole grant (entra-rotation.ts).
 *  - `client_info` (base64url of {"uid":oid,"utid":tid}) when the request says client_info=1,
 *    `scope` echoed like Entra (Graph scopes short, OIDC scopes without offline_access),
 *    `ext_expires_in`, and errors shaped like Entra's (AADSTS codes, error_codes, trace ids).
 *  - the `claims` request parameter (CAE / conditional access) is accepted and recorded in stats.
 *
 * Access tokens: RS256 JWTs signed with the key published in the JWKS, `typ: JWT`, `aud` the
 * resource URI (`https://graph.microsoft.com`, `https://vault.azure.net`, ...), `iss` the issuer
 * above, `scp` (delegated, space separated, short names), `tid`, `oid`, `azp`, `ver: "2.0"`,
 * `idtyp` (user or app), `xms_cc` when the client declared capabilities (CP1).
 */
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  timingSafeEqual,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, errors as joseErrors, exportJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import Provider, { errors as oidcErrors, type ProviderContext } from 'oidc-provider';
import { errorPage, homePage, signedOutPage, signInPage, signOutPage } from './entra-pages';
import { DEFAULT_FRONTCHANNEL_LOGOUT_PATH, FrontchannelTargets, frontchannelFrames, submitAfterFrames } from './entra-frontchannel';
import { EntraRequestError, formatScope, GRAPH, OFFLINE, OIDC_SCOPES, parseScopes, PROVIDER_OIDC_SCOPES, resourceById, toProviderScope, type ResourceDef } from './entra-scopes';
import { forgiveConsumption, wasRedeemed } from './entra-rotation';
import { EntraStore } from './entra-store';
import {
  admits,
  adminConsentRedirect,
  authoritySegment,
  discoveryFor,
  emulatedTenants,
  issuerOf,
  listedAccounts,
  loginHintOf,
  notAdmittedMessage,
  OTHER_TENANT_USERS,
  parseLoginHint,
  TenantDirectory,
  type Authority,
  type EmulatedTenant,
} from './entra-tenants';

// -------------------------------------------------------------------------------------------------
// Public types and seed data
// -------------------------------------------------------------------------------------------------

export interface EntraUser {
  /** Sign-in name (UPN / email), e.g. adele@contoso.test. */
  readonly username: string;
  readonly password: string;
  /** Display name (`name` claim). */
  readonly name: string;
  /** Object id (`oid` claim), a fixed GUID. */
  readonly oid: string;
  /** The user's tenant (`tid`), one of emulators/entra-tenants.ts; default the home tenant. */
  readonly tenantId?: string;
}

export const DEFAULT_PASSWORD = 'Passw0rd!';

/** The seeded users. Adele's oid matches the Graph stand-in's demo mailbox (emulators/graph-mailbox.ts). */
export const SEED_USERS: readonly EntraUser[] = [
  { username: 'adele@contoso.test', password: DEFAULT_PASSWORD, name: 'Adele Vance', oid: '6f1c8f5e-2f0b-4c1e-9a43-6a8d2b1f0a01' },
  { username: 'megan@contoso.test', password: DEFAULT_PASSWORD, name: 'Megan Bowen', oid: 'c2a5e3f1-7b4d-4e8a-9f06-1d3b5a7c9e12' },
  { username: 'lee@contoso.test', password: DEFAULT_PASSWORD, name: 'Lee Gu', oid: '9d4b2e6a-3c1f-4a7e-8b05-2f6c8d0e4a23' },
];

export const EMULATED_TENANT_ID = '7f3e9c2a-4b1d-4e6f-8a90-1c2d3e4f5a6b';
export const EMULATED_CLIENT_ID = '3f6b2c1d-8e4a-4b7f-9c05-6d2e1a3b4c5d';
/** Object id of the app's service principal (`oid`/`sub` of its client-credentials tokens). */
export const EMULATED_SERVICE_PRINCIPAL_ID = 'e4d3c2b1-a0f9-4e8d-9c7b-6a5f4e3d2c1b';
export const EMULATED_MANAGED_IDENTITY = {
  /** Client id of the user-assigned managed identity (AZURE_CLIENT_ID). */
  clientId: '5e8f1a2b-3c4d-4e5f-9a6b-7c8d9e0f1a2b',
  /** Its principal (object) id: the `sub`/`oid` of its tokens, and the subject the app trusts for federation. */
  principalId: '8c7d6e5f-4a3b-4c2d-8e1f-0a9b8c7d6e5f',
  resourceId:
    '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-bff-local',
} as const;

export { GRAPH_APP_ID, GRAPH_RESOURCE, KEY_VAULT_RESOURCE, STORAGE_RESOURCE } from './entra-scopes';
/** Audience of the tokens a managed identity presents as federated credentials. */
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
const TOKEN_EXCHANGE_APP_ID = 'fb60f99c-7a34-4190-8149-302f77469936';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface EntraSettings {
  /** Lifetime of access tokens (user, client-credentials and managed-identity), seconds. Default 3600. */
  accessTokenTtlSeconds: number;
  /** Lifetime of refresh tokens, seconds. Default 90 days. */
  refreshTokenTtlSeconds: number;
  /** Redeeming an already-rotated refresh token revokes the whole grant. Default false: as in Entra, it is redeemed again. */
  refreshTokenReuseDetection: boolean;
  /** Added delay before the token and managed-identity endpoints answer, ms. Default 0. */
  latencyMs: number;
}

export type FaultEndpoint = 'token' | 'authorize' | 'discovery' | 'jwks' | 'msi' | 'all';

export interface EntraFault {
  /** HTTP status to answer with, e.g. 503. */
  readonly status: number;
  /** How many requests fail before the endpoint works again. */
  readonly count: number;
  /** Retry-After header, seconds (default 1; 0 = no header). */
  readonly retryAfterSeconds?: number;
  /** Which endpoint fails (default 'token'). */
  readonly endpoint?: FaultEndpoint;
}

export interface UserStats {
  signIns: number;
  authorizationCodeRedemptions: number;
  refreshTokenRedemptions: number;
}

export interface EntraStats {
  authorizeRequests: number;
  signIns: number;
  failedSignIns: number;
  /** Every call to the token endpoint, whatever the outcome. */
  tokenRequests: number;
  /** Calls to the token endpoint by grant_type, whatever the outcome. */
  tokenRequestsByGrant: Record<string, number>;
  /** Failed token requests by OAuth error code (invalid_grant, invalid_client, ...). */
  tokenErrors: Record<string, number>;
  /** Successful redemptions. */
  authorizationCodeRedemptions: number;
  refreshTokenRedemptions: number;
  clientCredentialsGrants: number;
  /** Rotated refresh tokens presented again while reuse detection was on (each revoked a grant). */
  refreshTokenReuseDetected: number;
  /** Rotated refresh tokens presented again (either setting). */
  rotatedRefreshTokenRedemptionAttempts: number;
  managedIdentityTokens: number;
  /** How callers authenticated at the token endpoint: secret, certificate, federated. */
  clientAuthentications: Record<string, number>;
  faultsServed: number;
  /** Requests (authorize or token) that carried a `claims` parameter. */
  claimsRequests: number;
  /** The last `claims` parameter seen (raw JSON text), or null. */
  lastClaims: string | null;
  lastAuthorizeClaims: string | null;
  lastTokenClaims: string | null;
  /** Per user (username). */
  byUser: Record<string, UserStats>;
  /** The account the last end-session request's logout_hint named, or null. */
  lastLogoutHint: { oid: string; tid: string } | null;
  /** Admin consents granted, by tenant id. */
  adminConsents: Record<string, number>;
}

export interface EntraOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  readonly tls: { readonly cert: string; readonly key: string };
  readonly tenantId?: string;
  /** The default app registration's client id (EMULATED_CLIENT_ID). */
  readonly clientId?: string;
  readonly appName?: string;
  /** Accepted client secrets; default one random secret. The first one is reported as `clientSecret`. */
  readonly clientSecrets?: readonly string[];
  /** Certificates (PEM) whose keys may sign client assertions for the client. */
  readonly clientCertificates?: readonly string[];
  readonly redirectUris?: readonly string[];
  readonly postLogoutRedirectUris?: readonly string[];
  readonly users?: readonly EntraUser[];
  readonly managedIdentity?: { readonly clientId?: string; readonly principalId?: string; readonly resourceId?: string; readonly identityHeader?: string };
  readonly servicePrincipalId?: string;
  readonly settings?: Partial<EntraSettings>;
  /** Log oidc-provider server errors to stderr (default true). */
  readonly logErrors?: boolean;
  /**
   * Front-channel sign-out: the path loaded (with `?sid=`) on the origin each sign-in's redirect URI
   * named, in an iframe on the sign-out page (entra-frontchannel.ts). Default
   * /api/logout/frontchannel; null turns it off.
   */
  readonly frontchannelLogoutPath?: string | null;
}

export interface RedirectUriPatch {
  readonly redirectUris?: readonly string[];
  readonly postLogoutRedirectUris?: readonly string[];
}

/** Controls of one app registration (client): each has its own settings, faults and stats. */
export interface EntraClientControl {
  readonly clientId: string;
  settings(): EntraSettings;
  setSettings(patch: Partial<EntraSettings>): EntraSettings;
  stats(): EntraStats;
  resetStats(): void;
  setClientSecrets(secrets: readonly string[]): void;
  setClientCertificates(pems: readonly string[]): void;
  setRedirectUris(uris: RedirectUriPatch): void;
  fault(fault: EntraFault): void;
  /** Settings, stats, fault, secrets, certificates and redirect URIs back to how they started. */
  reset(): void;
}

export interface CreatedClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly servicePrincipalId: string;
}

/** The default client's controls, plus tenant-wide ones. */
export interface EntraControl extends EntraClientControl {
  client(clientId: string): EntraClientControl;
  /** A new app registration (isolated settings, faults, stats); redirect URIs default to the default client's. */
  createClient(options?: { clientSecrets?: readonly string[]; clientCertificates?: readonly string[] } & RedirectUriPatch): CreatedClient;
  /** A new user (random oid; username and name derived from `username` when omitted). */
  createUser(options?: Partial<EntraUser>): EntraUser;
  /** Revokes every grant and session of the user (all clients); returns how many grants were revoked. */
  revokeUser(username: string): number;
}

export interface EntraEmulator {
  /** CLOUD_INSTANCE: the origin with a trailing slash. */
  readonly url: string;
  readonly origin: string;
  readonly port: number;
  readonly tenantId: string;
  readonly clientId: string;
  /** url + tenantId */
  readonly authority: string;
  readonly issuer: string;
  /** The issuer of every emulated tenant (user tokens carry their own tenant's). */
  readonly issuers: readonly string[];
  /** The emulated tenants (entra-tenants.ts), the home tenant first. */
  readonly tenants: readonly EmulatedTenant[];
  readonly jwksUri: string;
  readonly discoveryUrl: string;
  readonly tokenEndpoint: string;
  /** The first accepted client secret at start. */
  readonly clientSecret: string;
  /** The seeded users (users created later through the admin API are not listed here). */
  readonly users: readonly EntraUser[];
  /** IDENTITY_ENDPOINT */
  readonly msiEndpoint: string;
  /** IDENTITY_HEADER */
  readonly msiHeader: string;
  readonly managedIdentityClientId: string;
  readonly managedIdentityPrincipalId: string;
  readonly servicePrincipalId: string;
  readonly control: EntraControl;
  stop(): Promise<void>;
}

// -------------------------------------------------------------------------------------------------
// Helpers
// -------------------------------------------------------------------------------------------------

const BODY_LIMIT = 64 * 1024;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new EntraRequestError(413, 'invalid_request', 90019, 'The request body is too large.');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendHtml(res: ServerResponse, status: number, html: string, extraCsp = ''): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'${extraCsp}`,
    'referrer-policy': 'no-referrer',
    'content-length': Buffer.byteLength(html),
  });
  res.end(html);
}

function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function entraTimestamp(date = new Date()): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

function newClientSecret(): string {
  // Entra secrets look like `abc8Q~` + 34 characters.
  return `${randomBytes(3).toString('base64url').slice(0, 3)}8Q~${randomBytes(30).toString('base64url').slice(0, 34)}`;
}

function pairwiseSub(oid: string, clientId: string): string {
  return createHash('sha256').update(`${oid}|${clientId}`).digest('base64url').slice(0, 43);
}

function isLoopbackHttp(u: URL): boolean {
  return u.protocol === 'http:' && (u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]');
}

/**
 * Entra ignores the port of loopback redirect URIs (http://localhost, http://127.0.0.1): a request
 * for http://127.0.0.1:54321/api/callback matches a registered http://127.0.0.1:7071/api/callback.
 * Host and path must still match exactly.
 */
function loopbackMatch(uri: string, registered: readonly string[]): boolean {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return false;
  }
  if (!isLoopbackHttp(u) || u.search || u.hash || u.username || u.password) return false;
  return registered.some((r) => {
    try {
      const p = new URL(r);
      return isLoopbackHttp(p) && p.hostname === u.hostname && p.pathname === u.pathname && !p.search;
    } catch {
      return false;
    }
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function emptyStats(): EntraStats {
  return {
    authorizeRequests: 0,
    signIns: 0,
    failedSignIns: 0,
    tokenRequests: 0,
    tokenRequestsByGrant: {},
    tokenErrors: {},
    authorizationCodeRedemptions: 0,
    refreshTokenRedemptions: 0,
    clientCredentialsGrants: 0,
    refreshTokenReuseDetected: 0,
    rotatedRefreshTokenRedemptionAttempts: 0,
    managedIdentityTokens: 0,
    clientAuthentications: {},
    faultsServed: 0,
    claimsRequests: 0,
    lastClaims: null,
    lastAuthorizeClaims: null,
    lastTokenClaims: null,
    byUser: {},
    lastLogoutHint: null,
    adminConsents: {},
  };
}

const DEFAULT_SETTINGS: EntraSettings = {
  accessTokenTtlSeconds: 3600,
  refreshTokenTtlSeconds: 90 * 24 * 3600,
  refreshTokenReuseDetection: false,
  latencyMs: 0,
};

function validateSettings(patch: Record<string, unknown>): Partial<EntraSettings> {
  const out: Partial<EntraSettings> = {};
  const known = new Set(['accessTokenTtlSeconds', 'refreshTokenTtlSeconds', 'refreshTokenReuseDetection', 'latencyMs']);
  for (const key of Object.keys(patch)) if (!known.has(key)) throw new TypeError(`unknown setting "${key}"`);
  const positiveInt = (name: string, min: number): number | undefined => {
    const v = patch[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new TypeError(`${name} must be an integer >= ${min}`);
    return v;
  };
  const at = positiveInt('accessTokenTtlSeconds', 1);
  if (at !== undefined) out.accessTokenTtlSeconds = at;
  const rt = positiveInt('refreshTokenTtlSeconds', 1);
  if (rt !== undefined) out.refreshTokenTtlSeconds = rt;
  const latency = positiveInt('latencyMs', 0);
  if (latency !== undefined) out.latencyMs = latency;
  const reuse = patch['refreshTokenReuseDetection'];
  if (reuse !== undefined) {
    if (typeof reuse !== 'boolean') throw new TypeError('refreshTokenReuseDetection must be a boolean');
    out.refreshTokenReuseDetection = reuse;
  }
  return out;
}

interface RegisteredCertificate {
  readonly pem: string;
  readonly publicKey: KeyObject;
  readonly x5t: string;
  readonly x5tS256: string;
}

function registerCertificate(pem: string): RegisteredCertificate {
  const cert = new X509Certificate(pem);
  return {
    pem,
    publicKey: cert.publicKey,
    x5t: createHash('sha1').update(cert.raw).digest('base64url'),
    x5tS256: createHash('sha256').update(cert.raw).digest('base64url'),
  };
}

/** msal sends base64url thumbprints; accept hex too. */
function normalizeThumbprint(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  if (/^[0-9a-f]+$/i.test(value) && (value.length === 40 || value.length === 64)) return Buffer.from(value, 'hex').toString('base64url');
  return value.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

/** What the front layer learned about a token request, for the post-processing middleware. */
interface TokenRequestInfo {
  readonly clientId: string;
  readonly grantType: string;
  readonly clientInfo: boolean;
  readonly xmsCc: string[] | undefined;
  readonly authMethod: 'secret' | 'certificate' | 'federated';
  readonly resource: ResourceDef | undefined;
  readonly correlationId: string;
}

let bodyWarningFilterInstalled = false;
/** oidc-provider warns once when the body was read upstream; here that is on purpose. */
function installBodyWarningFilter(): void {
  if (bodyWarningFilterInstalled) return;
  bodyWarningFilterInstalled = true;
  const original = console.warn.bind(console);
  console.warn = (...args: unknown[]): void => {
    if (typeof args[0] === 'string' && args[0].includes('already parsed request body detected')) return;
    original(...args);
  };
}

// -------------------------------------------------------------------------------------------------
// The emulator
// -------------------------------------------------------------------------------------------------

interface ClientState {
  readonly clientId: string;
  readonly appName: string;
  readonly servicePrincipalId: string;
  readonly initial: {
    readonly secrets: readonly string[];
    readonly certificates: readonly string[];
    readonly redirectUris: readonly string[];
    readonly postLogoutRedirectUris: readonly string[];
    readonly settings: EntraSettings;
  };
  secrets: string[];
  certificates: RegisteredCertificate[];
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** Loopback URIs accepted by port-insensitive matching (newest last, bounded). */
  adoptedRedirectUris: string[];
  adoptedPostLogoutUris: string[];
  settings: EntraSettings;
  fault: (Required<EntraFault> & { remaining: number }) | undefined;
  stats: EntraStats;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function startEntra(options: EntraOptions): Promise<EntraEmulator> {
  installBodyWarningFilter();
  const host = options.host ?? '127.0.0.1';
  const tenantId = options.tenantId ?? EMULATED_TENANT_ID;
  const logErrors = options.logErrors ?? true;

  // Users: accountId inside oidc-provider is the oid; `sub` is pairwise per app, as in Entra.
  const seededUsers = [...(options.users ?? [...SEED_USERS, ...OTHER_TENANT_USERS])];
  const tenants = emulatedTenants(tenantId.toLowerCase());
  const directory = new TenantDirectory(tenants, tenants[0]!);
  const tidOf = (user: EntraUser): string => directory.tenantOf(user).id;
  const usersByName = new Map<string, EntraUser>();
  const usersByOid = new Map<string, EntraUser>();
  const addUser = (u: EntraUser): void => {
    if (usersByName.has(u.username.toLowerCase())) throw new TypeError(`user ${u.username} exists already`);
    if (usersByOid.has(u.oid)) throw new TypeError(`a user with oid ${u.oid} exists already`);
    usersByName.set(u.username.toLowerCase(), u);
    usersByOid.set(u.oid, u);
  };
  seededUsers.forEach(addUser);

  const mi = {
    clientId: options.managedIdentity?.clientId ?? EMULATED_MANAGED_IDENTITY.clientId,
    principalId: options.managedIdentity?.principalId ?? EMULATED_MANAGED_IDENTITY.principalId,
    resourceId: options.managedIdentity?.resourceId ?? EMULATED_MANAGED_IDENTITY.resourceId,
    identityHeader: options.managedIdentity?.identityHeader ?? randomBytes(24).toString('base64url'),
  };

  // App registrations.
  const clients = new Map<string, ClientState>();
  const newClientState = (o: {
    clientId: string;
    appName: string;
    servicePrincipalId: string;
    secrets: readonly string[];
    certificates: readonly string[];
    redirectUris: readonly string[];
    postLogoutRedirectUris: readonly string[];
    settings: EntraSettings;
  }): ClientState => {
    const initial = {
      secrets: o.secrets.length > 0 ? [...o.secrets] : [newClientSecret()],
      certificates: [...o.certificates],
      redirectUris: [...o.redirectUris],
      postLogoutRedirectUris: [...o.postLogoutRedirectUris],
      settings: { ...o.settings },
    };
    return {
      clientId: o.clientId,
      appName: o.appName,
      servicePrincipalId: o.servicePrincipalId,
      initial,
      secrets: [...initial.secrets],
      certificates: initial.certificates.map(registerCertificate),
      redirectUris: [...initial.redirectUris],
      postLogoutRedirectUris: [...initial.postLogoutRedirectUris],
      adoptedRedirectUris: [],
      adoptedPostLogoutUris: [],
      settings: { ...initial.settings },
      fault: undefined,
      stats: emptyStats(),
    };
  };
  const main = newClientState({
    clientId: options.clientId ?? EMULATED_CLIENT_ID,
    appName: options.appName ?? 'Entra BFF (local)',
    servicePrincipalId: options.servicePrincipalId ?? EMULATED_SERVICE_PRINCIPAL_ID,
    secrets: options.clientSecrets ?? [],
    certificates: options.clientCertificates ?? [],
    redirectUris: options.redirectUris ?? [],
    postLogoutRedirectUris: options.postLogoutRedirectUris ?? [],
    settings: { ...DEFAULT_SETTINGS, ...validateSettings({ ...(options.settings ?? {}) }) },
  });
  clients.set(main.clientId, main);
  const stateOf = (clientId: string | null | undefined): ClientState | undefined => (clientId ? clients.get(clientId) : undefined);
  const settingsOf = (clientId: string | undefined): EntraSettings => (stateOf(clientId) ?? main).settings;

  const adopt = (uri: string | null, registered: readonly string[], adopted: string[]): void => {
    if (!uri || registered.includes(uri) || adopted.includes(uri) || !loopbackMatch(uri, registered)) return;
    adopted.push(uri);
    if (adopted.length > 200) adopted.shift();
  };

  const frontchannel = new FrontchannelTargets(options.frontchannelLogoutPath === undefined ? DEFAULT_FRONTCHANNEL_LOGOUT_PATH : options.frontchannelLogoutPath);

  /** Refresh tokens whose grant was revoked, with why: they answer AADSTS50173 rather than "not found". */
  const revokedRefreshTokens = new Map<string, 'user' | 'reuse'>();

  // Signing key (RS256), published in the JWKS.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateJwk = (await exportJWK(privateKey)) as JWK;
  const kid = await calculateJwkThumbprint(privateJwk);
  const signingJwk: JWK = { ...privateJwk, kid, alg: 'RS256', use: 'sig' };
  const publicKey = createPublicKey(privateKey);

  // Internal client secret: oidc-provider only sees it after the front layer authenticated the caller.
  const internalSecret = randomBytes(32).toString('base64url');
  const clientMetadata = (id: string): Record<string, unknown> | undefined => {
    const c = clients.get(id);
    if (!c) return undefined;
    return {
      client_id: c.clientId,
      client_secret: internalSecret,
      client_name: c.appName,
      application_type: 'web',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [...c.redirectUris, ...c.adoptedRedirectUris.filter((u) => !c.redirectUris.includes(u))],
      post_logout_redirect_uris: [...c.postLogoutRedirectUris, ...c.adoptedPostLogoutUris.filter((u) => !c.postLogoutRedirectUris.includes(u))],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'RS256',
    };
  };
  const store = new EntraStore(clientMetadata);
  store.detectsRefreshTokenReuse = (clientId) => settingsOf(clientId).refreshTokenReuseDetection;

  // The server is created first so the port (and so the issuer) is known before the provider.
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = https.createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const issuer = issuerOf(origin, tenantId);
  const routes = {
    authorization: `/${tenantId}/oauth2/v2.0/authorize`,
    token: `/${tenantId}/oauth2/v2.0/token`,
    end_session: `/${tenantId}/oauth2/v2.0/logout`,
    jwks: `/${tenantId}/discovery/v2.0/keys`,
  };
  const tokenEndpoint = `${origin}${routes.token}`;
  const discoveryPath = `/${tenantId}/v2.0/.well-known/openid-configuration`;
  const loginPrefix = `/${tenantId}/login/`;

  const bump = (record: Record<string, number>, key: string): void => {
    record[key] = (record[key] ?? 0) + 1;
  };
  const userStats = (c: ClientState, u: EntraUser): UserStats =>
    (c.stats.byUser[u.username] ??= { signIns: 0, authorizationCodeRedemptions: 0, refreshTokenRedemptions: 0 });
  const recordClaims = (c: ClientState, where: 'authorize' | 'token', claims: string | null): void => {
    if (claims === null || claims === '') return;
    c.stats.claimsRequests += 1;
    c.stats.lastClaims = claims;
    if (where === 'authorize') c.stats.lastAuthorizeClaims = claims;
    else c.stats.lastTokenClaims = claims;
  };

  const provider = new Provider(issuer, {
    adapter: store.adapterFactory,
    jwks: { keys: [signingJwk] },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    routes,
    scopes: ['openid', 'profile', 'email', OFFLINE],
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }, source: { scopes: Set<string> }) =>
      client.grantTypeAllowed('refresh_token') && source.scopes.has(OFFLINE),
    expiresWithSession: async (_ctx: unknown, source: { scopes: Set<string> }) => !source.scopes.has(OFFLINE),
    claims: {
      openid: ['sub', 'tid', 'ver'],
      profile: ['name', 'preferred_username', 'oid'],
      email: ['email'],
    },
    conformIdTokenClaims: false,
    // Which authority (tenant or alias) the authorize request came through, for the sign-in page.
    extraParams: ['entra_authority'],
    responseTypes: ['code'],
    // accountId is the user's oid; the pairwise `sub` (per app, as in Entra) is written into the
    // tokens by the JWT customizer and by re-signing the id token (oidc-provider's own pairwise
    // mode would require a sector_identifier_uri for redirect URIs on several hosts).
    subjectTypes: ['public'],
    clientAuthMethods: ['client_secret_post'],
    pkce: { required: () => true },
    clockTolerance: 5,
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: false },
      introspection: { enabled: false },
      revocation: { enabled: false },
      dPoP: { enabled: false },
      claimsParameter: { enabled: false },
      clientCredentials: { enabled: true },
      pushedAuthorizationRequests: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx: ProviderContext, form: string) => {
          const nonce = randomBytes(16).toString('base64');
          // Front-channel sign-out: each signed-in app's URL in a hidden iframe (entra-frontchannel.ts).
          const authorizations = (ctx.oidc as { session?: { authorizations?: Record<string, { sid?: string }> } }).session?.authorizations;
          const frames = frontchannelFrames(frontchannel.urlsFor(authorizations));
          ctx.type = 'html';
          ctx.set(
            'content-security-policy',
            `default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}'; frame-ancestors 'none'${frames.frameSrc ? `; frame-src ${frames.frameSrc}` : ''}`,
          );
          ctx.body = signOutPage(form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>'), nonce, frames.html, submitAfterFrames('op.logoutForm'));
        },
        postLogoutSuccessSource: async (ctx: ProviderContext) => {
          ctx.type = 'html';
          ctx.body = signedOutPage();
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string | string[]) => oneOf,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, indicator: string, client: { clientId: string } | undefined) => {
          const resource = resourceById(indicator);
          if (!resource) throw new oidcErrors['InvalidTarget']!();
          return {
            scope: resource.scopes.join(' '),
            audience: resource.audience,
            accessTokenTTL: settingsOf(client?.clientId).accessTokenTtlSeconds,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    formats: {
      customizers: {
        jwt: async (
          ctx: ProviderContext | undefined,
          token: { kind: string; accountId?: string; clientId?: string },
          jwt: { header?: Record<string, unknown>; payload: Record<string, unknown> },
        ) => {
          const info = ctx?.req.entra as TokenRequestInfo | undefined;
          const client = stateOf(token.clientId) ?? main;
          const p = jwt.payload;
          jwt.header = { typ: 'JWT', x5t: kid };
          const scope = typeof p['scope'] === 'string' ? p['scope'] : '';
          delete p['scope'];
          delete p['client_id'];
          p['nbf'] = p['iat'];
          p['tid'] = tenantId;
          p['ver'] = '2.0';
          p['azp'] = client.clientId;
          p['appid'] = client.clientId;
          p['azpacr'] = info?.authMethod === 'secret' ? '1' : '2';
          p['uti'] = p['jti'];
          if (token.kind === 'ClientCredentials') {
            p['sub'] = client.servicePrincipalId;
            p['oid'] = client.servicePrincipalId;
            p['idtyp'] = 'app';
            p['roles'] = [];
          } else {
            const user = token.accountId ? usersByOid.get(token.accountId) : undefined;
            if (token.accountId) p['sub'] = pairwiseSub(token.accountId, client.clientId);
            if (user) {
              // The user's own tenant issues the token (Entra's multi-tenant issuer rule).
              p['tid'] = tidOf(user);
              p['iss'] = issuerOf(origin, tidOf(user));
              p['oid'] = user.oid;
              p['name'] = user.name;
              p['preferred_username'] = user.username;
              p['upn'] = user.username;
            }
            p['scp'] = scope;
            p['idtyp'] = 'user';
            if (info?.xmsCc) p['xms_cc'] = info.xmsCc;
          }
        },
      },
    },
    ttl: {
      AccessToken: (_ctx: unknown, _token: unknown, client?: { clientId: string }) => settingsOf(client?.clientId).accessTokenTtlSeconds,
      ClientCredentials: (_ctx: unknown, _token: unknown, client?: { clientId: string }) => settingsOf(client?.clientId).accessTokenTtlSeconds,
      AuthorizationCode: 600,
      IdToken: 3600,
      Interaction: 3600,
      Session: 24 * 3600,
      Grant: 365 * 24 * 3600,
      RefreshToken: (_ctx: unknown, _token: unknown, client?: { clientId: string }) => settingsOf(client?.clientId).refreshTokenTtlSeconds,
    },
    rotateRefreshToken: true,
    interactions: {
      url: async (_ctx: unknown, interaction: { uid: string }) => `${loginPrefix}${interaction.uid}`,
    },
    findAccount: async (_ctx: unknown, oid: string) => {
      const user = usersByOid.get(oid);
      if (!user) return undefined;
      return {
        accountId: oid,
        claims: async () => ({
          sub: oid, // replaced by the pairwise identifier
          tid: tidOf(user),
          ver: '2.0',
          oid: user.oid,
          name: user.name,
          preferred_username: user.username,
          email: user.username,
        }),
      };
    },
    // First-party style: whatever the client asks for is consented to, no consent screen.
    loadExistingGrant: async (ctx: ProviderContext) => {
      const oidc = ctx.oidc;
      const accountId = oidc.session?.accountId;
      if (!accountId || !oidc.client) return undefined;
      const grantId = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(oidc.client.clientId);
      let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (grant && grant.accountId !== accountId) grant = undefined;
      grant ??= new oidc.provider.Grant({ accountId, clientId: oidc.client.clientId });
      grantRequested(grant, oidc.params ?? {});
      await grant.save();
      return grant;
    },
    renderError: async (ctx: ProviderContext, out: Record<string, string>) => {
      ctx.type = 'html';
      ctx.body = errorPage('Sorry, but we’re having trouble signing you in', out['error_description'] ?? out['error'] ?? 'Unknown error', {
        Error: out['error'] ?? 'server_error',
      });
    },
  });

  function grantRequested(grant: { addOIDCScope(s: string): void; addResourceScope(r: string, s: string): void }, params: Record<string, unknown>): void {
    const scopes = typeof params['scope'] === 'string' ? params['scope'].split(' ').filter(Boolean) : [];
    const oidcScopes = scopes.filter((s) => PROVIDER_OIDC_SCOPES.has(s));
    if (oidcScopes.length > 0) grant.addOIDCScope(oidcScopes.join(' '));
    const resourceParam = params['resource'];
    const resources = Array.isArray(resourceParam) ? resourceParam : typeof resourceParam === 'string' ? [resourceParam] : [];
    for (const indicator of resources) {
      const resource = typeof indicator === 'string' ? resourceById(indicator) : undefined;
      if (!resource) continue;
      const names = scopes.filter((s) => resource.scopes.includes(s));
      if (names.length > 0) grant.addResourceScope(indicator as string, names.join(' '));
    }
  }

  provider.on('server_error', (...args: unknown[]) => {
    if (logErrors) console.error('[entra emulator] server error:', args[1]);
  });
  // oidc-provider keeps the precise reason in error_detail ("grant request is invalid" is all the
  // description says); keep it for the Entra error mapping.
  provider.on('grant.error', (...args: unknown[]) => {
    const [ctx, err] = args as [ProviderContext | undefined, { error_detail?: unknown } | undefined];
    if (ctx && typeof err?.error_detail === 'string') (ctx.req as { entraErrorDetail?: string }).entraErrorDetail = err.error_detail;
  });

  // Post-processing: Entra's token response and error shapes, discovery extras, stats.
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if ((route === 'resume' || route === 'authorization') && (ctx.status === 302 || ctx.status === 303)) {
      // RFC 9207's `iss` in the authorization response: the signed-in user's own tenant's issuer.
      const user = ctx.oidc.session?.accountId ? usersByOid.get(ctx.oidc.session.accountId) : undefined;
      const location = ctx.response.get('location');
      if (user && location && /[?&]iss=/.test(location)) {
        const target = new URL(location);
        target.searchParams.set('iss', issuerOf(origin, tidOf(user)));
        ctx.set('location', target.href);
      }
      return;
    }
    if (route === 'discovery' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      const body = ctx.body as Record<string, unknown>;
      body['token_endpoint_auth_methods_supported'] = ['client_secret_post', 'private_key_jwt', 'client_secret_basic'];
      body['subject_types_supported'] = ['pairwise'];
      body['scopes_supported'] = ['openid', 'profile', 'email', 'offline_access'];
      body['claims_supported'] = ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'name', 'preferred_username', 'oid', 'tid', 'ver', 'email'];
      body['request_uri_parameter_supported'] = false;
      body['tenant_region_scope'] = null;
      body['cloud_instance_name'] = new URL(origin).host;
      const authority = (ctx.req as { entraAuthority?: Authority }).entraAuthority;
      if (authority) discoveryFor(body, origin, tenantId, authority);
      return;
    }
    if (route !== 'token') return;
    const info = ctx.req.entra as TokenRequestInfo | undefined;
    const client = stateOf(info?.clientId) ?? main;
    const body = (ctx.body ?? {}) as Record<string, unknown>;
    if (ctx.status === 200 && typeof body['access_token'] === 'string') {
      ctx.body = await onTokenSuccess(ctx, client, body, info);
    } else if (typeof body['error'] === 'string') {
      const detail = (ctx.req as { entraErrorDetail?: string }).entraErrorDetail;
      const description = [typeof body['error_description'] === 'string' ? body['error_description'] : '', detail ?? ''].join(' ').trim();
      const mapped = mapProviderError(client, body['error'], description, info?.grantType);
      bump(client.stats.tokenErrors, mapped.error);
      ctx.status = mapped.status ?? ctx.status;
      ctx.body = entraErrorBody(mapped.error, mapped.code, mapped.text, info?.correlationId);
    }
  });

  /** The sign-in session's `sid` for this client (oidc-provider keeps one per client in the session). */
  async function sidOf(source: { sessionUid?: string } | undefined, clientId: string): Promise<string | undefined> {
    if (!source?.sessionUid) return undefined;
    const session = await provider.Session.findByUid(source.sessionUid);
    const sid = session?.sidFor(clientId);
    return typeof sid === 'string' ? sid : undefined;
  }

  /**
   * The id token with Entra's pairwise `sub` (oidc-provider signed it with sub = oid), the user's
   * tenant as `iss`/`tid`, the `login_hint` optional claim the app registers (entra-app.json), and `sid`.
   */
  async function withPairwiseSub(idToken: string, clientId: string, sid?: string): Promise<string> {
    const payload = decodeJwt(idToken) as Record<string, unknown>;
    if (typeof payload['sub'] !== 'string') return idToken;
    const user = usersByOid.get(payload['sub']);
    if (user) {
      payload['tid'] = tidOf(user);
      payload['iss'] = issuerOf(origin, tidOf(user));
      payload['login_hint'] = loginHintOf(user.oid, tidOf(user));
    }
    payload['sub'] = pairwiseSub(payload['sub'], clientId);
    if (sid !== undefined) payload['sid'] = sid;
    return new SignJWT(payload).setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid }).sign(privateKey);
  }

  async function onTokenSuccess(
    ctx: ProviderContext,
    client: ClientState,
    body: Record<string, unknown>,
    info: TokenRequestInfo | undefined,
  ): Promise<Record<string, unknown>> {
    const entities = ctx.oidc.entities;
    const grantType = info?.grantType ?? '';
    const at = entities.AccessToken ?? entities.ClientCredentials;
    const resource = at?.resourceServer ? resourceById(at.resourceServer.identifier()) : undefined;
    const resourceScopes = (at?.scope ?? '').split(' ').filter(Boolean);
    const out: Record<string, unknown> = { token_type: 'Bearer' };
    if (grantType === 'client_credentials') {
      client.stats.clientCredentialsGrants += 1;
    } else {
      const source = entities.AuthorizationCode ?? entities.RefreshToken;
      // OIDC scopes are echoed; offline_access (and its internal stand-in) is not, as in Entra.
      const oidcScopes = (source?.scope ?? '').split(' ').filter((s) => OIDC_SCOPES.has(s) && s !== 'offline_access');
      out['scope'] = [...resourceScopes.map((s) => formatScope(resource, s)), ...oidcScopes].join(' ');
    }
    out['expires_in'] = body['expires_in'];
    out['ext_expires_in'] = body['expires_in'];
    out['access_token'] = body['access_token'];
    if (body['refresh_token'] !== undefined) out['refresh_token'] = body['refresh_token'];
    if (typeof body['id_token'] === 'string') {
      const code = entities.AuthorizationCode as { sessionUid?: string; redirectUri?: string } | undefined;
      const sid = await sidOf(code ?? (entities.RefreshToken as { sessionUid?: string } | undefined), client.clientId);
      if (sid !== undefined && code) frontchannel.record(sid, code.redirectUri);
      out['id_token'] = await withPairwiseSub(body['id_token'], client.clientId, sid);
    }
    const accountId = entities.Account?.accountId;
    const user = accountId ? usersByOid.get(accountId) : undefined;
    if (user && info?.clientInfo) {
      out['client_info'] = Buffer.from(JSON.stringify({ uid: user.oid, utid: tidOf(user) })).toString('base64url');
    }
    if (grantType === 'authorization_code') {
      client.stats.authorizationCodeRedemptions += 1;
      if (user) userStats(client, user).authorizationCodeRedemptions += 1;
    } else if (grantType === 'refresh_token') {
      client.stats.refreshTokenRedemptions += 1;
      if (user) userStats(client, user).refreshTokenRedemptions += 1;
    }
    return out;
  }

  function mapProviderError(
    client: ClientState,
    error: string,
    description: string,
    grantType: string | undefined,
  ): { error: string; code: number; text: string; status?: number } {
    const d = description.toLowerCase();
    switch (error) {
      case 'invalid_grant':
        if (d.includes('authorization code') && (d.includes('already used') || d.includes('consumed'))) {
          return { error, code: 54005, text: 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.' };
        }
        if (d.includes('expired')) {
          return d.includes('refresh token')
            ? { error, code: 700082, text: 'The refresh token has expired due to inactivity. The token was issued on a date older than the allowed inactivity period.' }
            : { error, code: 70008, text: 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.' };
        }
        if (d.includes('pkce') || d.includes('code_verifier')) {
          return { error, code: 501481, text: 'The Code_Verifier does not match the code_challenge supplied in the authorization request.' };
        }
        if (d.includes('refresh token not found') || d.includes('client mismatch')) {
          return { error, code: 70000, text: 'Provided grant is invalid or malformed.' };
        }
        if (d.includes('redirect_uri')) {
          return { error, code: 50148, text: 'The redirect_uri of the token request does not match the one used in the authorization request.' };
        }
        if (d.includes('grant not found') || d.includes('grant is expired') || (d.includes('grant') && d.includes('revoked'))) {
          return {
            error,
            code: 50173,
            text: 'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.',
          };
        }
        return grantType === 'authorization_code'
          ? { error, code: 70000, text: "The provided value for the 'code' parameter is not valid." }
          : { error, code: 70000, text: 'Provided grant is invalid or malformed.' };
      case 'invalid_client':
        return {
          error,
          code: 7000215,
          text: `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${client.clientId}'.`,
          status: 401,
        };
      case 'invalid_scope':
        return { error, code: 70011, text: `The provided value for the input parameter 'scope' is not valid. ${description}` };
      case 'invalid_target':
        return { error: 'invalid_resource', code: 500011, text: `The resource principal was not found in the tenant named ${tenantId}.` };
      case 'unsupported_grant_type':
        return { error, code: 70003, text: 'The app requested an unsupported grant type.' };
      case 'unauthorized_client':
        return { error, code: 700016, text: `Application with identifier '${client.clientId}' is not allowed to use this grant type.` };
      case 'invalid_request': {
        const missing = /missing required parameter.? '?([a-z_]+)/i.exec(description);
        if (missing) return { error, code: 900144, text: `The request body must contain the following parameter: '${missing[1]}'.` };
        return { error, code: 9002313, text: `Invalid request. Request is malformed or invalid. (${description})` };
      }
      case 'server_error':
        return { error, code: 90033, text: 'A transient error has occurred. Please try again.' };
      default:
        return { error, code: 9002313, text: `Invalid request. Request is malformed or invalid. (${description})` };
    }
  }

  function entraErrorBody(error: string, code: number, text: string, correlationId: string = randomUUID()): Record<string, unknown> {
    const traceId = randomUUID();
    const timestamp = entraTimestamp();
    return {
      error,
      error_description: `AADSTS${code}: ${text} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${origin}/error?code=${code}`,
    };
  }

  // --- faults and latency ---------------------------------------------------------------------

  /**
   * A fault set on a client applies to that client's token and authorize requests; faults on the
   * endpoints that name no client (discovery, jwks, msi) apply to everyone.
   */
  function takeFault(client: ClientState | undefined, endpoint: Exclude<FaultEndpoint, 'all'>): EntraFault | undefined {
    const candidates = endpoint === 'token' || endpoint === 'authorize' ? (client ? [client] : []) : [...clients.values()];
    for (const c of candidates) {
      const f = c.fault;
      if (!f || f.remaining <= 0) continue;
      if (f.endpoint !== 'all' && f.endpoint !== endpoint) continue;
      f.remaining -= 1;
      c.stats.faultsServed += 1;
      const served = { ...f };
      if (f.remaining <= 0) c.fault = undefined;
      return served;
    }
    return undefined;
  }

  function sendFault(res: ServerResponse, f: EntraFault, correlationId?: string): void {
    const headers: Record<string, string> = {};
    const retryAfter = f.retryAfterSeconds ?? 1;
    if (retryAfter > 0) headers['retry-after'] = String(retryAfter);
    const body = entraErrorBody('temporarily_unavailable', 90033, 'A transient error has occurred. Please try again.', correlationId);
    sendJson(res, f.status, body, headers);
  }

  // --- client authentication -------------------------------------------------------------------

  /** The client a token request names (before it is authenticated). */
  function presentedClientId(params: URLSearchParams, authorization: string | undefined): string | undefined {
    if (authorization !== undefined) {
      const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
      if (match) {
        const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        try {
          return decodeURIComponent(decoded.slice(0, colon < 0 ? decoded.length : colon));
        } catch {
          return undefined;
        }
      }
    }
    const id = params.get('client_id');
    if (id) return id;
    const assertion = params.get('client_assertion');
    if (assertion) {
      try {
        const sub = decodeJwt(assertion).sub;
        if (typeof sub === 'string') return sub;
      } catch {
        /* reported by authenticateClient */
      }
    }
    return undefined;
  }

  async function authenticateClient(params: URLSearchParams, authorization: string | undefined): Promise<{ client: ClientState; method: TokenRequestInfo['authMethod'] }> {
    let secret = params.get('client_secret');
    if (authorization !== undefined) {
      const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
      if (!match) throw new EntraRequestError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
      const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      let basicId: string;
      try {
        basicId = decodeURIComponent(decoded.slice(0, colon < 0 ? decoded.length : colon));
        secret = colon < 0 ? '' : decodeURIComponent(decoded.slice(colon + 1));
      } catch {
        throw new EntraRequestError(400, 'invalid_request', 9002313, 'Invalid request. The Authorization header is not properly encoded.');
      }
      const bodyId = params.get('client_id');
      if (bodyId && bodyId !== basicId) throw new EntraRequestError(400, 'invalid_request', 9002313, 'Invalid request. client_id does not match the Authorization header.');
    }
    const presentedId = presentedClientId(params, authorization);
    const assertion = params.get('client_assertion');
    if (!presentedId) throw new EntraRequestError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    const client = clients.get(presentedId);
    if (!client) {
      throw new EntraRequestError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${presentedId}' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`,
      );
    }
    if (secret && assertion) throw new EntraRequestError(400, 'invalid_request', 9002313, 'Invalid request. Only one client credential may be presented.');
    if (secret !== null && secret !== '') {
      const presented = secret;
      if (!client.secrets.some((s) => constantTimeEqual(s, presented))) {
        throw new EntraRequestError(
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${client.clientId}'.`,
        );
      }
      return { client, method: 'secret' };
    }
    if (assertion) {
      if (params.get('client_assertion_type') !== JWT_BEARER) {
        throw new EntraRequestError(400, 'invalid_request', 9002313, `Invalid request. client_assertion_type must be ${JWT_BEARER}.`);
      }
      return { client, method: await verifyClientAssertion(client, assertion) };
    }
    throw new EntraRequestError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  }

  async function verifyClientAssertion(client: ClientState, assertion: string): Promise<'certificate' | 'federated'> {
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(assertion) as Record<string, unknown>;
      payload = decodeJwt(assertion) as Record<string, unknown>;
    } catch {
      throw new EntraRequestError(401, 'invalid_client', 50027, 'JWT token is invalid or malformed.');
    }
    const timeError = (e: unknown): EntraRequestError | undefined =>
      e instanceof joseErrors.JWTExpired || (e instanceof joseErrors.JWTClaimValidationFailed && (e.claim === 'nbf' || e.claim === 'iat'))
        ? new EntraRequestError(401, 'invalid_client', 700024, `Client assertion is not within its valid time range. Current time: ${new Date().toISOString()}.`)
        : undefined;

    if (payload['iss'] === client.clientId && payload['sub'] === client.clientId) {
      // Certificate credential: the assertion names the registered certificate by thumbprint.
      const s256 = normalizeThumbprint(header['x5t#S256']);
      const s1 = normalizeThumbprint(header['x5t']);
      const cert = client.certificates.find((c) => (s256 !== undefined && c.x5tS256 === s256) || (s1 !== undefined && c.x5t === s1));
      if (!cert) {
        throw new EntraRequestError(
          401,
          'invalid_client',
          700027,
          `Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '${String(header['x5t#S256'] ?? header['x5t'] ?? '')}'. Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${client.clientId}'.]`,
        );
      }
      try {
        await jwtVerify(assertion, cert.publicKey, {
          algorithms: ['RS256', 'PS256', 'ES256'],
          audience: [tokenEndpoint, `${origin}/${tenantId}/oauth2/token`],
          issuer: client.clientId,
          subject: client.clientId,
          clockTolerance: 300,
          requiredClaims: ['exp'],
        });
      } catch (e) {
        throw (
          timeError(e) ??
          (e instanceof joseErrors.JWTClaimValidationFailed && e.claim === 'aud'
            ? new EntraRequestError(401, 'invalid_client', 700027, `Client assertion failed validation: its audience must be the token endpoint ${tokenEndpoint}.`)
            : new EntraRequestError(401, 'invalid_client', 700027, 'Client assertion failed signature validation.'))
        );
      }
      return 'certificate';
    }

    // Federated credential (workload identity federation): issuer, subject and audience must match
    // the federated identity credential configured on the app: this emulator's issuer, the managed
    // identity's principal id, api://AzureADTokenExchange.
    const iss = payload['iss'];
    if (iss !== issuer) {
      throw new EntraRequestError(
        401,
        'invalid_client',
        700211,
        `No matching federated identity record found for presented assertion issuer '${String(iss)}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`,
      );
    }
    try {
      await jwtVerify(assertion, publicKey, { algorithms: ['RS256'], issuer, clockTolerance: 60, requiredClaims: ['exp', 'sub', 'aud'] });
    } catch (e) {
      throw timeError(e) ?? new EntraRequestError(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
    }
    const aud = payload['aud'];
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (!audiences.some((a) => a === TOKEN_EXCHANGE_AUDIENCE || a === TOKEN_EXCHANGE_APP_ID)) {
      throw new EntraRequestError(
        401,
        'invalid_client',
        700212,
        `No matching federated identity record found for presented assertion audience '${audiences.join(',')}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`,
      );
    }
    if (payload['sub'] !== mi.principalId) {
      throw new EntraRequestError(
        401,
        'invalid_client',
        700213,
        `No matching federated identity record found for presented assertion subject '${String(payload['sub'])}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`,
      );
    }
    return 'federated';
  }

  // --- revocation -------------------------------------------------------------------------------

  function revokeGrantId(grantId: string, reason: 'user' | 'reuse'): void {
    for (const rt of store.refreshTokensOfGrant(grantId)) revokedRefreshTokens.set(rt, reason);
    store.revokeGrant(grantId);
  }

  function revokeUser(username: string): number {
    const user = usersByName.get(username.toLowerCase());
    if (!user) throw new EntraRequestError(404, 'not_found', 0, `No user ${username}`);
    let count = 0;
    for (const [grantId, payload] of [...store.all('Grant')]) {
      if (payload.accountId === user.oid) {
        revokeGrantId(grantId, 'user');
        count += 1;
      }
    }
    // Tokens whose Grant record is already gone but that still name the user.
    for (const [id, payload] of [...store.all('RefreshToken')]) {
      if (payload.accountId === user.oid) {
        revokedRefreshTokens.set(id, 'user');
        store.delete('RefreshToken', id);
      }
    }
    for (const [id, payload] of [...store.all('Session')]) {
      if (payload.accountId === user.oid) store.delete('Session', id);
    }
    return count;
  }

  // --- token endpoint ----------------------------------------------------------------------------

  async function handleToken(req: IncomingMessage, res: ServerResponse, providerCallback: (req: IncomingMessage, res: ServerResponse) => void): Promise<void> {
    const correlationId = (req.headers['client-request-id'] as string | undefined) ?? randomUUID();
    const raw = await readBody(req);
    const params = new URLSearchParams(raw);
    const named = stateOf(presentedClientId(params, req.headers.authorization));
    const statsOwner = named ?? main;
    statsOwner.stats.tokenRequests += 1;
    const grantType = params.get('grant_type') ?? '';
    bump(statsOwner.stats.tokenRequestsByGrant, grantType || '(none)');
    const latency = (named ?? main).settings.latencyMs;
    if (latency > 0) await sleep(latency);
    const injected = takeFault(named, 'token');
    if (injected) return sendFault(res, injected, correlationId);

    try {
      if (req.method !== 'POST') throw new EntraRequestError(405, 'invalid_request', 900561, 'The endpoint only accepts POST requests.');
      const contentType = String(req.headers['content-type'] ?? '');
      if (!contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
        throw new EntraRequestError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
      }
      const claims = params.get('claims');
      recordClaims(statsOwner, 'token', claims);
      const xmsCc = capabilitiesOf(claims);

      const { client, method } = await authenticateClient(params, req.headers.authorization);
      bump(client.stats.clientAuthentications, method);

      const forward = new URLSearchParams();
      forward.set('grant_type', grantType);
      forward.set('client_id', client.clientId);
      forward.set('client_secret', internalSecret);
      let resource: ResourceDef | undefined;

      switch (grantType) {
        case 'authorization_code': {
          for (const name of ['code', 'redirect_uri', 'code_verifier']) {
            const value = params.get(name);
            if (value !== null) forward.set(name, value);
          }
          if (!params.get('code')) throw new EntraRequestError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'code'.");
          break;
        }
        case 'refresh_token': {
          const value = params.get('refresh_token');
          if (!value) throw new EntraRequestError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'refresh_token'.");
          await precheckRefreshToken(client, value);
          forward.set('refresh_token', value);
          const parsed = parseScopes(params.get('scope'), tenantId);
          resource = parsed.resource;
          const scope = [...parsed.oidc.map(toProviderScope), ...parsed.names].join(' ');
          if (scope) forward.set('scope', scope);
          if (resource) forward.set('resource', resource.id);
          break;
        }
        case 'client_credentials': {
          const scopeParam = (params.get('scope') ?? '').trim();
          const match = /^(.+)\/\.default$/.exec(scopeParam);
          resource = match ? resourceById(match[1]!) : undefined;
          if (!match || scopeParam.includes(' ')) {
            throw new EntraRequestError(
              400,
              'invalid_scope',
              1002012,
              `The provided value for scope ${scopeParam} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
            );
          }
          if (!resource) {
            throw new EntraRequestError(400, 'invalid_resource', 500011, `The resource principal named ${match[1]} was not found in the tenant named ${tenantId}.`);
          }
          forward.set('resource', resource.id);
          break;
        }
        default:
          throw new EntraRequestError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
      }

      const info: TokenRequestInfo = { clientId: client.clientId, grantType, clientInfo: params.get('client_info') === '1', xmsCc, authMethod: method, resource, correlationId };
      const forwarded = req as IncomingMessage & { body?: string; entra?: TokenRequestInfo };
      forwarded.body = forward.toString();
      forwarded.entra = info;
      delete req.headers.authorization;
      req.headers['content-type'] = 'application/x-www-form-urlencoded';
      req.headers['accept'] = 'application/json';
      providerCallback(req, res);
    } catch (e) {
      if (!(e instanceof EntraRequestError)) throw e;
      bump(statsOwner.stats.tokenErrors, e.error);
      sendJson(res, e.status, entraErrorBody(e.error, e.code, e.text, correlationId));
    }
  }

  async function precheckRefreshToken(client: ClientState, value: string): Promise<void> {
    const revokedFor = revokedRefreshTokens.get(value);
    if (revokedFor) {
      throw new EntraRequestError(
        400,
        'invalid_grant',
        50173,
        revokedFor === 'user'
          ? 'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.'
          : 'The provided grant has been revoked because a refresh token was redeemed twice (refresh token reuse detection), a fresh auth token is needed.',
      );
    }
    const rt = await provider.RefreshToken.find(value, { ignoreExpiration: true });
    if (!rt || rt.clientId !== client.clientId) return; // oidc-provider answers -> mapped to an Entra error
    const stored = store.get('RefreshToken', rt.jti);
    if (stored && wasRedeemed(stored)) {
      client.stats.rotatedRefreshTokenRedemptionAttempts += 1;
      if (client.settings.refreshTokenReuseDetection) {
        client.stats.refreshTokenReuseDetected += 1;
        revokeGrantId(rt.grantId, 'reuse');
        throw new EntraRequestError(
          400,
          'invalid_grant',
          50173,
          'The provided grant has been revoked because a refresh token was redeemed twice (refresh token reuse detection), a fresh auth token is needed.',
        );
      }
      forgiveConsumption(stored); // as Entra: a rotated refresh token stays redeemable
    }
    if (rt.isExpired) {
      throw new EntraRequestError(400, 'invalid_grant', 700082, 'The refresh token has expired due to inactivity. The token was issued on a date older than the allowed inactivity period.');
    }
  }

  // --- authorize ---------------------------------------------------------------------------------

  function handleAuthorize(req: IncomingMessage, res: ServerResponse, url: URL, providerCallback: (req: IncomingMessage, res: ServerResponse) => void): void {
    const params = new URLSearchParams(url.search);
    const client = stateOf(params.get('client_id'));
    if (client) {
      client.stats.authorizeRequests += 1;
      const injected = takeFault(client, 'authorize');
      if (injected) return sendFault(res, injected);
      adopt(params.get('redirect_uri'), client.redirectUris, client.adoptedRedirectUris);
      recordClaims(client, 'authorize', params.get('claims'));
    }
    params.delete('claims');
    params.set('entra_authority', authoritySegment((req as { entraAuthority?: Authority }).entraAuthority ?? { kind: 'tenant', tenant: directory.home }));
    // Its `sub` is the pairwise one, which oidc-provider would not recognise; Entra uses login_hint/sid.
    params.delete('id_token_hint');
    const prompt = params.get('prompt');
    if (prompt === 'select_account' || prompt === 'create') params.set('prompt', 'login');
    try {
      const parsed = parseScopes(params.get('scope'), tenantId);
      let names = parsed.names;
      let resource = parsed.resource;
      if (!resource) {
        // Entra issues a Graph token (User.Read) when only OIDC scopes are asked for.
        resource = GRAPH;
        names = ['User.Read'];
      }
      params.set('scope', [...parsed.oidc.map(toProviderScope), ...names].join(' '));
      params.set('resource', resource.id);
    } catch (e) {
      if (!(e instanceof EntraRequestError)) throw e;
      const redirectUri = params.get('redirect_uri');
      if (client && redirectUri && (client.redirectUris.includes(redirectUri) || client.adoptedRedirectUris.includes(redirectUri))) {
        const target = new URL(redirectUri);
        target.searchParams.set('error', e.error);
        target.searchParams.set('error_description', `AADSTS${e.code}: ${e.text}`);
        const state = params.get('state');
        if (state !== null) target.searchParams.set('state', state);
        res.writeHead(302, { location: target.href, 'cache-control': 'no-store' });
        res.end();
        return;
      }
      sendHtml(res, 400, errorPage('Sorry, but we’re having trouble signing you in', `AADSTS${e.code}: ${e.text}`));
      return;
    }
    req.url = `${routes.authorization}?${params.toString()}`; // alias authorities share the provider's route
    providerCallback(req, res);
  }

  // --- sign-in page ------------------------------------------------------------------------------

  async function handleLogin(req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      sendHtml(res, 400, errorPage('Your sign-in request expired', 'The sign-in session was not found or has expired. Go back to the application and sign in again.'));
      return;
    }
    if (details.uid !== uid) {
      sendHtml(res, 400, errorPage('Your sign-in request expired', 'This sign-in page does not belong to the current sign-in session. Go back to the application and sign in again.'));
      return;
    }
    const client = stateOf(typeof details.params['client_id'] === 'string' ? details.params['client_id'] : undefined) ?? main;
    const action = `${loginPrefix}${uid}`;
    const loginHint = typeof details.params['login_hint'] === 'string' ? details.params['login_hint'] : '';
    const domainHint = typeof details.params['domain_hint'] === 'string' ? details.params['domain_hint'] : undefined;
    const authority = directory.authority(String(details.params['entra_authority'] ?? tenantId)) ?? { kind: 'tenant', tenant: directory.home };
    const page = (error?: string, username?: string): string =>
      signInPage({
        action,
        appName: client.appName,
        tenantId: authoritySegment(authority),
        ...(error !== undefined ? { error } : {}),
        username: username ?? loginHint,
        testAccounts: listedAccounts(seededUsers, directory, authority, domainHint).map((u) => ({ username: u.username, name: u.name })),
        passwordHint: seededUsers.every((u) => u.password === DEFAULT_PASSWORD) ? DEFAULT_PASSWORD : '(see the emulator configuration)',
      });

    if (details.prompt.name === 'consent') {
      // First-party app: consent is granted without a screen.
      const accountId = details.session?.accountId;
      if (!accountId) throw new Error('consent prompt without a session');
      const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId, clientId: client.clientId });
      const missingOidc = details.prompt.details['missingOIDCScope'];
      if (Array.isArray(missingOidc) && missingOidc.length > 0) grant.addOIDCScope(missingOidc.join(' '));
      const missingResource = details.prompt.details['missingResourceScopes'];
      if (missingResource && typeof missingResource === 'object') {
        for (const [indicator, scopes] of Object.entries(missingResource as Record<string, string[]>)) grant.addResourceScope(indicator, scopes.join(' '));
      }
      grantRequested(grant, details.params);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }

    if (req.method === 'GET') {
      sendHtml(res, 200, page());
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, POST' });
      res.end();
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    if (form.get('cancel') === '1') {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'AADSTS65004: User declined to consent to access the app.' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const username = (form.get('username') ?? '').trim();
    const password = form.get('password') ?? '';
    const user = usersByName.get(username.toLowerCase());
    if (!user) {
      client.stats.failedSignIns += 1;
      sendHtml(res, 200, page('This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin. (AADSTS50034)', username));
      return;
    }
    if (!constantTimeEqual(user.password, password)) {
      client.stats.failedSignIns += 1;
      sendHtml(res, 200, page("Your account or password is incorrect. If you don't remember your password, reset it now. (AADSTS50126)", username));
      return;
    }
    if (!admits(authority, directory.tenantOf(user))) {
      client.stats.failedSignIns += 1;
      sendHtml(res, 200, page(notAdmittedMessage(authority, user.username, directory.tenantOf(user)), username));
      return;
    }
    client.stats.signIns += 1;
    userStats(client, user).signIns += 1;
    await provider.interactionFinished(req, res, { login: { accountId: user.oid, amr: ['pwd'], remember: true } }, { mergeWithLastSubmission: false });
  }

  // --- admin consent (v2) ---------------------------------------------------------------------------

  /**
   * `/{tenant}/v2.0/adminconsent?client_id&scope&redirect_uri&state`: the emulated administrator
   * always approves. For a tenant authority the outcome names that tenant; under `organizations`
   * the administrator's tenant comes from `login_hint` (home-realm discovery), else the home tenant.
   */
  function handleAdminConsent(res: ServerResponse, url: URL, authority: Authority | undefined): void {
    const q = url.searchParams;
    const request = { clientId: q.get('client_id'), redirectUri: q.get('redirect_uri'), state: q.get('state'), scope: q.get('scope') };
    const client = stateOf(request.clientId);
    if (!client) return sendHtml(res, 400, errorPage('Sorry, but we’re having trouble signing you in', `AADSTS700016: Application with identifier '${request.clientId ?? ''}' was not found.`));
    if (!request.redirectUri || !(client.redirectUris.includes(request.redirectUri) || loopbackMatch(request.redirectUri, client.redirectUris))) {
      return sendHtml(res, 400, errorPage('Sorry, but we’re having trouble signing you in', 'AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured for the application.'));
    }
    const hinted = q.get('login_hint')?.split('@')[1];
    const tenant =
      authority?.kind === 'tenant' ? authority.tenant : authority === undefined ? directory.home : hinted ? directory.byDomain(hinted) : directory.home;
    const outcome =
      tenant === undefined
        ? { error: 'invalid_request', description: 'AADSTS50020: The administrator account was not found in any tenant.' }
        : tenant.personal || authority?.kind === 'alias' && authority.alias !== 'organizations'
          ? { error: 'invalid_request', description: 'AADSTS90093: Admin consent is only available for work or school accounts (use /organizations or a tenant).' }
          : { tenant };
    if ('tenant' in outcome) client.stats.adminConsents[outcome.tenant.id] = (client.stats.adminConsents[outcome.tenant.id] ?? 0) + 1;
    res.writeHead(302, { location: adminConsentRedirect(request, outcome), 'cache-control': 'no-store' });
    res.end();
  }

  // --- managed identity (App Service flavour) ----------------------------------------------------

  async function handleMsi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (main.settings.latencyMs > 0) await sleep(main.settings.latencyMs);
    const injected = takeFault(undefined, 'msi');
    if (injected) {
      const headers: Record<string, string> = {};
      if ((injected.retryAfterSeconds ?? 1) > 0) headers['retry-after'] = String(injected.retryAfterSeconds ?? 1);
      return sendJson(res, injected.status, { statusCode: injected.status, message: 'The managed identity endpoint is temporarily unavailable.' }, headers);
    }
    if (req.method !== 'GET') return sendJson(res, 405, { statusCode: 405, message: 'Only GET is supported.' });
    const presented = req.headers['x-identity-header'];
    if (typeof presented !== 'string' || !constantTimeEqual(presented, mi.identityHeader)) {
      return sendJson(res, 401, { statusCode: 401, message: 'The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.' });
    }
    const q = url.searchParams;
    if (!q.get('api-version')) return sendJson(res, 400, { statusCode: 400, message: 'The api-version query parameter is required (2019-08-01).' });
    const requested = q.get('resource');
    if (!requested) return sendJson(res, 400, { statusCode: 400, message: 'The resource query parameter is required.' });
    const resourceKey = requested.replace(/\/\.default$/, '').replace(/\/+$/, '');
    const isExchange = resourceKey === TOKEN_EXCHANGE_AUDIENCE || resourceKey === TOKEN_EXCHANGE_APP_ID;
    const resource = isExchange ? undefined : resourceById(resourceKey);
    if (!isExchange && !resource) {
      return sendJson(res, 400, { statusCode: 400, message: `AADSTS500011: The resource principal named ${requested} was not found in the tenant named ${tenantId}.` });
    }
    const idChecks: [string, string][] = [
      ['client_id', mi.clientId],
      ['principal_id', mi.principalId],
      ['object_id', mi.principalId],
      ['mi_res_id', mi.resourceId],
    ];
    for (const [name, expected] of idChecks) {
      const value = q.get(name);
      if (value !== null && value.toLowerCase() !== expected.toLowerCase()) {
        return sendJson(res, 400, { statusCode: 400, message: `Unable to load the requested managed identity (${name} ${value} is not assigned to this app).` });
      }
    }
    const now = Math.floor(Date.now() / 1000);
    const exp = now + main.settings.accessTokenTtlSeconds;
    const audience = isExchange ? TOKEN_EXCHANGE_AUDIENCE : resource!.audience;
    const token = await new SignJWT({
      aio: randomBytes(12).toString('base64url'),
      appid: mi.clientId,
      azp: mi.clientId,
      appidacr: '2',
      azpacr: '2',
      idp: issuer,
      idtyp: 'app',
      oid: mi.principalId,
      tid: tenantId,
      uti: randomBytes(16).toString('base64url'),
      ver: '2.0',
      xms_mirid: mi.resourceId,
    })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid, x5t: kid })
      .setIssuer(issuer)
      .setSubject(mi.principalId)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(privateKey);
    main.stats.managedIdentityTokens += 1;
    sendJson(res, 200, { access_token: token, expires_on: String(exp), resource: requested, token_type: 'Bearer', client_id: mi.clientId });
  }

  // --- admin -------------------------------------------------------------------------------------

  function clientControl(c: ClientState): EntraClientControl {
    return {
      clientId: c.clientId,
      settings: () => ({ ...c.settings }),
      setSettings: (patch) => {
        c.settings = { ...c.settings, ...validateSettings({ ...patch }) };
        return { ...c.settings };
      },
      stats: () => structuredClone(c.stats),
      resetStats: () => {
        c.stats = emptyStats();
      },
      setClientSecrets: (list) => {
        if (list.length === 0 || list.some((s) => typeof s !== 'string' || s === '')) throw new TypeError('secrets must be a non-empty list of non-empty strings');
        c.secrets = [...list];
      },
      setClientCertificates: (pems) => {
        c.certificates = pems.map(registerCertificate);
      },
      setRedirectUris: (uris) => {
        const check = (list: readonly string[]): string[] =>
          list.map((u) => {
            if (typeof u !== 'string') throw new TypeError('redirect URIs must be strings');
            const parsed = new URL(u);
            if (parsed.hash) throw new TypeError('redirect URIs must not have a fragment');
            return u;
          });
        if (uris.redirectUris) c.redirectUris = check(uris.redirectUris);
        if (uris.postLogoutRedirectUris) c.postLogoutRedirectUris = check(uris.postLogoutRedirectUris);
      },
      fault: (f) => {
        if (!Number.isInteger(f.count) || f.count < 0) throw new TypeError('count must be an integer >= 0');
        if (f.count === 0) {
          c.fault = undefined;
          return;
        }
        if (!Number.isInteger(f.status) || f.status < 400 || f.status > 599) throw new TypeError('status must be an HTTP error status (400-599)');
        const endpoint = f.endpoint ?? 'token';
        if (!['token', 'authorize', 'discovery', 'jwks', 'msi', 'all'].includes(endpoint)) throw new TypeError('endpoint must be token, authorize, discovery, jwks, msi or all');
        const retryAfterSeconds = f.retryAfterSeconds ?? 1;
        if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0) throw new TypeError('retryAfterSeconds must be an integer >= 0');
        c.fault = { status: f.status, count: f.count, retryAfterSeconds, endpoint, remaining: f.count };
      },
      reset: () => {
        c.settings = { ...c.initial.settings };
        c.secrets = [...c.initial.secrets];
        c.certificates = c.initial.certificates.map(registerCertificate);
        c.redirectUris = [...c.initial.redirectUris];
        c.postLogoutRedirectUris = [...c.initial.postLogoutRedirectUris];
        c.adoptedRedirectUris.length = 0;
        c.adoptedPostLogoutUris.length = 0;
        c.fault = undefined;
        c.stats = emptyStats();
      },
    };
  }

  const control: EntraControl = {
    ...clientControl(main),
    client: (clientId) => {
      const c = clients.get(clientId);
      if (!c) throw new RangeError(`no client ${clientId}`);
      return clientControl(c);
    },
    createClient: (o = {}) => {
      const clientId = randomUUID();
      const c = newClientState({
        clientId,
        appName: `Test app ${clientId.slice(0, 8)}`,
        servicePrincipalId: randomUUID(),
        secrets: o.clientSecrets ?? [],
        certificates: o.clientCertificates ?? [],
        redirectUris: o.redirectUris ?? main.initial.redirectUris,
        postLogoutRedirectUris: o.postLogoutRedirectUris ?? main.initial.postLogoutRedirectUris,
        settings: { ...DEFAULT_SETTINGS },
      });
      clients.set(clientId, c);
      return { clientId, clientSecret: c.secrets[0]!, servicePrincipalId: c.servicePrincipalId };
    },
    createUser: (o = {}) => {
      const tag = randomBytes(4).toString('hex');
      const username = o.username ?? `user-${tag}@contoso.test`;
      if (!/^[^\s@]+@[^\s@]+$/.test(username)) throw new TypeError('username must look like an email address');
      const oid = o.oid ?? randomUUID();
      if (!GUID.test(oid)) throw new TypeError('oid must be a GUID');
      // Home-realm discovery: the username's domain decides the tenant (default the home tenant).
      const tenantOfDomain = directory.byDomain(username.split('@')[1]!)?.id;
      const user: EntraUser = {
        username,
        oid,
        name: o.name ?? `Test User ${tag}`,
        password: o.password ?? DEFAULT_PASSWORD,
        ...(tenantOfDomain !== undefined && tenantOfDomain !== directory.home.id ? { tenantId: tenantOfDomain } : {}),
      };
      addUser(user);
      return user;
    },
    revokeUser,
  };

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const json = async (): Promise<Record<string, unknown>> => {
      const text = await readBody(req);
      if (text.trim() === '') return {};
      const value: unknown = JSON.parse(text);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TypeError('the body must be a JSON object');
      return value as Record<string, unknown>;
    };
    const stringList = (value: unknown, name: string): string[] | undefined => {
      if (value === undefined) return undefined;
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new TypeError(`${name} must be a list of strings`);
      return value as string[];
    };
    try {
      // Routes about one client take ?client_id= (default: the default client).
      const clientParam = url.searchParams.get('client_id');
      const target = clientParam ? clients.get(clientParam) : main;
      if (!target) return sendJson(res, 404, { error: 'not_found', message: `no client ${clientParam}` });
      const c = clientControl(target);

      if (path === '/_emulator/health' && method === 'GET') return sendJson(res, 200, { ok: true });
      if (path === '/_emulator/settings') {
        if (method === 'GET') return sendJson(res, 200, c.settings());
        if (method === 'PUT' || method === 'PATCH') return sendJson(res, 200, c.setSettings(validateSettings(await json())));
      }
      if (path === '/_emulator/stats' && method === 'GET') return sendJson(res, 200, c.stats());
      if (path === '/_emulator/stats/reset' && method === 'POST') {
        c.resetStats();
        return sendJson(res, 200, c.stats());
      }
      if (path === '/_emulator/reset' && method === 'POST') {
        c.reset();
        return sendJson(res, 200, { ok: true });
      }
      if (path === '/_emulator/clients' && method === 'POST') {
        const body = await json();
        const secrets = stringList(body['secrets'], 'secrets');
        const certificates = stringList(body['certificates'], 'certificates');
        const redirectUris = stringList(body['redirectUris'], 'redirectUris');
        const postLogoutRedirectUris = stringList(body['postLogoutRedirectUris'], 'postLogoutRedirectUris');
        const created = control.createClient({
          ...(secrets ? { clientSecrets: secrets } : {}),
          ...(certificates ? { clientCertificates: certificates } : {}),
          ...(redirectUris ? { redirectUris } : {}),
          ...(postLogoutRedirectUris ? { postLogoutRedirectUris } : {}),
        });
        return sendJson(res, 201, created);
      }
      if (path === '/_emulator/users') {
        if (method === 'GET') {
          return sendJson(res, 200, [...usersByName.values()].map((u) => ({ username: u.username, name: u.name, oid: u.oid, password: u.password, tenantId: tidOf(u) })));
        }
        if (method === 'POST') {
          const body = await json();
          const patch: { -readonly [K in keyof EntraUser]?: string } = {};
          for (const key of ['username', 'name', 'password', 'oid'] as const) {
            const v = body[key];
            if (v === undefined) continue;
            if (typeof v !== 'string' || v === '') throw new TypeError(`${key} must be a non-empty string`);
            patch[key] = v;
          }
          return sendJson(res, 201, control.createUser(patch));
        }
      }
      const revoke = /^\/_emulator\/users\/([^/]+)\/revoke$/.exec(path);
      if (revoke && method === 'POST') {
        const username = decodeURIComponent(revoke[1]!);
        if (!usersByName.has(username.toLowerCase())) return sendJson(res, 404, { error: 'not_found', message: `no user ${username}` });
        return sendJson(res, 200, { revokedGrants: control.revokeUser(username) });
      }
      if (path === '/_emulator/client-secret' && (method === 'PUT' || method === 'POST')) {
        const body = await json();
        const list = Array.isArray(body['secrets']) ? body['secrets'] : typeof body['secret'] === 'string' ? [body['secret']] : undefined;
        if (!list) throw new TypeError('send {"secret": "..."} or {"secrets": ["...", ...]}');
        c.setClientSecrets(list as string[]);
        return sendJson(res, 200, { secrets: list.length });
      }
      if (path === '/_emulator/client-certificates' && (method === 'PUT' || method === 'POST')) {
        const list = stringList((await json())['certificates'], 'certificates');
        if (!list) throw new TypeError('send {"certificates": ["-----BEGIN CERTIFICATE-----...", ...]}');
        c.setClientCertificates(list);
        return sendJson(res, 200, { certificates: list.length });
      }
      if (path === '/_emulator/redirect-uris' && (method === 'PUT' || method === 'POST')) {
        const body = await json();
        const redirectUris = stringList(body['redirectUris'], 'redirectUris');
        const postLogoutRedirectUris = stringList(body['postLogoutRedirectUris'], 'postLogoutRedirectUris');
        c.setRedirectUris({ ...(redirectUris ? { redirectUris } : {}), ...(postLogoutRedirectUris ? { postLogoutRedirectUris } : {}) });
        return sendJson(res, 200, { redirectUris: target.redirectUris, postLogoutRedirectUris: target.postLogoutRedirectUris });
      }
      if (path === '/_emulator/fault' && (method === 'POST' || method === 'PUT')) {
        const body = await json();
        c.fault({
          status: typeof body['status'] === 'number' ? body['status'] : 503,
          count: typeof body['count'] === 'number' ? body['count'] : 1,
          ...(typeof body['retryAfterSeconds'] === 'number' ? { retryAfterSeconds: body['retryAfterSeconds'] } : {}),
          ...(typeof body['endpoint'] === 'string' ? { endpoint: body['endpoint'] as FaultEndpoint } : {}),
        });
        return sendJson(res, 200, { fault: target.fault ?? null });
      }
      return sendJson(res, 404, { error: 'not_found', message: `no admin route ${method} ${path}` });
    } catch (e) {
      if (e instanceof SyntaxError || e instanceof TypeError || e instanceof RangeError) return sendJson(res, 400, { error: 'bad_request', message: e.message });
      throw e;
    }
  }

  // --- front router --------------------------------------------------------------------------------

  const providerCallback = provider.callback();
  handler = (req, res) => {
    void route(req, res).catch((error: unknown) => {
      if (error instanceof EntraRequestError) {
        if (!res.headersSent) sendJson(res, error.status, entraErrorBody(error.error, error.code, error.text, req.headers['client-request-id'] as string | undefined));
        return;
      }
      if (logErrors) console.error('[entra emulator] unexpected error:', error);
      if (!res.headersSent) sendJson(res, 500, entraErrorBody('server_error', 90033, 'A transient error has occurred. Please try again.'));
      else res.destroy();
    });
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    let path = url.pathname;
    if (path.startsWith('/_emulator/')) return handleAdmin(req, res, path, url);
    if (path === '/msi/token') return handleMsi(req, res, url);
    if (path === '/' || path === '') {
      sendHtml(res, 200, homePage({ authority: `${origin}/${tenantId}`, discovery: `${origin}${discoveryPath}`, tenantId, clientId: main.clientId }));
      return;
    }
    const first = /^\/([^/]+)(\/.*)?$/.exec(path);
    if (first) {
      // Every tenant and alias authority is served by the one provider, under the home tenant's paths.
      const authority = directory.authority(first[1]!);
      if (authority) {
        path = `/${tenantId}${first[2] ?? ''}`;
        if (!(authority.kind === 'tenant' && authority.tenant === directory.home)) (req as { entraAuthority?: Authority }).entraAuthority = authority;
      } else if (GUID.test(first[1]!)) {
        throw new EntraRequestError(400, 'invalid_tenant', 90002, `Tenant '${first[1]}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
      }
      if (path === `/${tenantId}/v2.0/adminconsent` && req.method === 'GET') return handleAdminConsent(res, url, authority);
      req.url = `${path}${url.search}`;
    }
    if (path === discoveryPath) {
      const injected = takeFault(undefined, 'discovery');
      if (injected) return sendFault(res, injected);
      req.url = `/.well-known/openid-configuration${url.search}`;
      providerCallback(req, res);
      return;
    }
    if (path === routes.jwks) {
      const injected = takeFault(undefined, 'jwks');
      if (injected) return sendFault(res, injected);
    }
    if (path.startsWith(loginPrefix)) return handleLogin(req, res, path.slice(loginPrefix.length));
    if (path === routes.token) return handleToken(req, res, providerCallback);
    if (path === routes.authorization && req.method === 'GET') return handleAuthorize(req, res, url, providerCallback);
    if (path === routes.end_session && req.method === 'GET') {
      // Entra redirects to a registered post_logout_redirect_uri without client_id/id_token_hint.
      const q = new URLSearchParams(url.search);
      if (q.has('post_logout_redirect_uri') && !q.has('client_id') && !q.has('id_token_hint')) q.set('client_id', main.clientId);
      const client = stateOf(q.get('client_id')) ?? main;
      adopt(q.get('post_logout_redirect_uri'), client.postLogoutRedirectUris, client.adoptedPostLogoutUris);
      // How Entra finds the account to sign out at an alias authority: the login_hint claim sent back.
      const hinted = q.has('logout_hint') ? parseLoginHint(q.get('logout_hint')!) : undefined;
      client.stats.lastLogoutHint = hinted && usersByOid.has(hinted.oid) ? { oid: hinted.oid, tid: hinted.tid } : null;
      q.delete('logout_hint');
      req.url = `${path}?${q.toString()}`;
      providerCallback(req, res);
      return;
    }
    req.url = `${path}${url.search}`;
    providerCallback(req, res);
  }

  const sockets = new Set<Duplex>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  return {
    url: `${origin}/`,
    origin,
    port,
    tenantId,
    clientId: main.clientId,
    authority: `${origin}/${tenantId}`,
    issuer,
    issuers: tenants.map((t) => issuerOf(origin, t.id)),
    tenants,
    jwksUri: `${origin}${routes.jwks}`,
    discoveryUrl: `${origin}${discoveryPath}`,
    tokenEndpoint,
    clientSecret: main.initial.secrets[0]!,
    users: seededUsers,
    msiEndpoint: `${origin}/msi/token`,
    msiHeader: mi.identityHeader,
    managedIdentityClientId: mi.clientId,
    managedIdentityPrincipalId: mi.principalId,
    servicePrincipalId: main.servicePrincipalId,
    control,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
        store.clear();
      }),
  };
}

/** The `xms_cc` values of an Entra `claims` request parameter ({"access_token":{"xms_cc":{"values":["CP1"]}}}). */
function capabilitiesOf(claims: string | null): string[] | undefined {
  if (!claims) return undefined;
  try {
    const parsed = JSON.parse(claims) as { access_token?: { xms_cc?: { values?: unknown } } };
    const values = parsed.access_token?.xms_cc?.values;
    if (Array.isArray(values) && values.every((v) => typeof v === 'string') && values.length > 0) return (values as string[]).map((v) => v.toLowerCase());
  } catch {
    /* not JSON: recorded, otherwise ignored */
  }
  return undefined;
}

/**
 * The baseline: the same mail request built the way the official msal-node distributed-cache
 * sample (samples/msal-node-samples/auth-code-distributed-cache: AuthProvider.ts, PartitionManager.ts,
 * RedisClientWrapper.ts, middleware.ts) builds it, with Table Storage where the sample has Redis:
 *
 * - a new ConfidentialClientApplication per request, with msal-node's DistributedCachePlugin, an
 *   ICacheClient doing plain get/set on one row per user (no ETag, no lease, no memory copy, no
 *   encryption; errors are logged and read as an empty cache, as RedisClientWrapper does), and a
 *   partition manager whose getKey() reads the user's session from the session store on every
 *   cache access, as the sample's PartitionManager reads `sess:<id>` from Redis;
 * - `getTokenCache().getAllAccounts()` before `acquireTokenSilent`, as the sample's getTokenSilent
 *   does ("required for triggering beforeCacheAccess");
 * - authority metadata fetched once at start and handed to every application (`authorityMetadata`),
 *   as the sample's AuthProvider.initialize/getMetadata does. (The sample caches it in Redis; here it
 *   lives in memory. MSAL does not rediscover per application instance in either.)
 *
 * What is NOT the sample's, to keep the comparison about token-cache handling: sessions are the
 * app's own (same session rows in the `accounts` table, same cookie, same cost: one read per
 * request, at most one write an hour; the baseline's services have the app's memory copy off, so
 * its session read is a plain point read that brings no token cache along), where the sample's express-session + connect-redis would also `touch` the session on
 * every request and store the access token in it. The sign-in uses PKCE (the emulated Entra requires
 * it; the sample does not send it) and response_mode=query; sign-in is not measured. Graph is
 * called through the app's own GraphMailClient, so both sides make the same Graph request.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { TableClient } from '@azure/data-tables';
import {
  ConfidentialClientApplication,
  CryptoProvider,
  DistributedCachePlugin,
  InteractionRequiredAuthError,
  LogLevel,
  ResponseMode,
  type AccountInfo,
  type ICacheClient,
  type IPartitionManager,
} from '@azure/msal-node';
import type { SessionRef, SessionStore } from '../src/auth/session-store';
import type { Sessions } from '../src/auth/sessions';
import type { Config } from '../src/config';
import { GraphMailClient } from '../src/graph/mail-client';
import { json, redirect } from '../src/http/responses';
import type { Route } from '../src/http/route';
import { READ_ETAG_HEADER } from './storage-proxy';

/** The baseline's row in each user's partition of its own `tokencache` table (the sample's Redis). */
export const BASELINE_ROW = 'msal-sample';

export interface BaselineCounters {
  /** Requests answered 401 because MSAL wanted an interactive sign-in (the sample redirects to Entra). */
  interactionRequired: number;
  /** Other failures (502). */
  errors: number;
  /** Storage errors the cache client swallowed (read as an empty cache, as in the sample). */
  swallowedStorageErrors: number;
}

export interface Baseline {
  readonly routes: Route[];
  readonly counters: BaselineCounters;
}

export interface BaselineOptions {
  readonly config: Config;
  /** TABLES_CONNECTION_STRING (the storage proxy). */
  readonly connectionString: string;
  readonly sessions: Sessions;
  readonly sessionStore: SessionStore;
  /** This server's origin: the redirect URI is origin + /api/callback. */
  readonly origin: () => string;
}

/** Like the sample's RedisClientWrapper: plain get/set, failures logged (here: counted) and read as empty. */
class TableCacheClient implements ICacheClient {
  /** The ETag of the last get per key, sent along with set for the storage proxy's lost-update count only. */
  readonly #readEtags = new Map<string, string>();

  constructor(
    private readonly client: TableClient,
    private readonly counters: BaselineCounters,
  ) {}

  async get(key: string): Promise<string> {
    if (key === '') return ''; // no session yet (sign-in): the sample's Redis GET of "" finds nothing
    try {
      const entity = await this.client.getEntity<{ data?: string }>(key, BASELINE_ROW);
      this.#readEtags.set(key, entity.etag);
      return entity.data ?? '';
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) this.counters.swallowedStorageErrors++;
      return '';
    }
  }

  async set(key: string, value: string): Promise<string> {
    try {
      const etag = this.#readEtags.get(key);
      await this.client.upsertEntity(
        { partitionKey: key, rowKey: BASELINE_ROW, data: value },
        'Replace',
        etag ? { requestOptions: { customHeaders: { [READ_ETAG_HEADER]: etag } } } : {},
      );
    } catch {
      this.counters.swallowedStorageErrors++;
    }
    return '';
  }
}

/** Like the sample's PartitionManager: getKey() reads the session from the session store every time. */
class SessionPartitionManager implements IPartitionManager {
  constructor(
    private readonly sessionStore: SessionStore,
    private readonly session: SessionRef | undefined,
  ) {}

  async getKey(): Promise<string> {
    if (this.session === undefined) return '';
    try {
      return (await this.sessionStore.get(this.session))?.homeAccountId ?? '';
    } catch {
      return '';
    }
  }

  async extractKey(accountEntity: Parameters<IPartitionManager['extractKey']>[0]): Promise<string> {
    if (typeof accountEntity.homeAccountId === 'string' && accountEntity.homeAccountId !== '') return accountEntity.homeAccountId;
    throw new Error('homeAccountId is not found');
  }
}

interface PendingLogin {
  readonly verifier: string;
  readonly createdAt: number;
}

export async function createBaseline(options: BaselineOptions): Promise<Baseline> {
  const { config, sessions, sessionStore } = options;
  const counters: BaselineCounters = { interactionRequired: 0, errors: 0, swallowedStorageErrors: 0 };
  // One shared client, as the sample shares one Redis client; the ICacheClient wrapper is per request
  // only so that the lost-update probe knows which read a write follows.
  const table = TableClient.fromConnectionString(options.connectionString, 'tokencache', { allowInsecureConnection: true });
  await table.createTable(); // its own table, as the sample's cache has its own Redis keys (tolerates "exists")
  const graph = new GraphMailClient({ endpoint: config.graphEndpoint });
  const crypto = new CryptoProvider();
  const pending = new Map<string, PendingLogin>();
  const environment = new URL(config.cloudInstance).host;

  // AuthProvider.initialize -> getMetadata: fetched once, given to every application.
  const discovery = await fetch(`${config.authority}/v2.0/.well-known/openid-configuration`);
  if (!discovery.ok) throw new Error(`baseline: discovery answered ${discovery.status}`);
  const authorityMetadata = await discovery.text();

  const msalInstance = (session: SessionRef | undefined): ConfidentialClientApplication =>
    new ConfidentialClientApplication({
      auth: {
        clientId: config.clientId,
        authority: config.authority,
        clientSecret: config.clientSecret ?? '',
        knownAuthorities: [...config.knownAuthorities],
        authorityMetadata,
      },
      system: { loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => {} } },
      cache: { cachePlugin: new DistributedCachePlugin(new TableCacheClient(table, counters), new SessionPartitionManager(sessionStore, session)) },
    });

  const redirectUri = (): string => `${options.origin()}/api/callback`;
  const scopes = ['openid', 'profile', 'offline_access', ...config.graphScopes];

  const login = async (): Promise<HttpResponseInit> => {
    const pkce = await crypto.generatePkceCodes();
    const state = randomUUID();
    const now = Date.now();
    for (const [key, value] of pending) if (now - value.createdAt > 600_000) pending.delete(key);
    pending.set(state, { verifier: pkce.verifier, createdAt: now });
    const url = await msalInstance(undefined).getAuthCodeUrl({
      scopes,
      redirectUri: redirectUri(),
      responseMode: ResponseMode.QUERY,
      state,
      codeChallenge: pkce.challenge,
      codeChallengeMethod: 'S256',
    });
    return redirect(url);
  };

  const callback = async (request: HttpRequest): Promise<HttpResponseInit> => {
    const state = request.query.get('state') ?? '';
    const code = request.query.get('code');
    const login = pending.get(state);
    pending.delete(state);
    if (!login || !code) return json(400, { error: 'login_failed', message: 'no such sign-in' });
    const app = msalInstance(undefined);
    await app.getTokenCache().getAllAccounts(); // as the sample: "required for triggering beforeCacheAccess"
    const result = await app.acquireTokenByCode({ code, scopes, redirectUri: redirectUri(), codeVerifier: login.verifier });
    const account = result.account;
    if (!account) return json(400, { error: 'login_failed', message: 'no account' });
    const { cookie } = await sessions.start(
      { homeAccountId: account.homeAccountId, name: account.name ?? account.username, username: account.username, tenantId: account.tenantId },
      request,
    );
    const returnTo = request.query.get('returnTo') ?? '/api/health';
    return redirect(returnTo.startsWith('/') && !returnTo.startsWith('//') ? returnTo : '/api/health', { cookies: [cookie] });
  };

  const mail = async (request: HttpRequest): Promise<HttpResponseInit> => {
    const session = await sessions.current(request);
    if (!session) return json(401, { error: 'login_required', message: 'not signed in' });
    const account: AccountInfo = {
      homeAccountId: session.homeAccountId,
      environment,
      tenantId: session.tenantId,
      localAccountId: session.homeAccountId.split('.')[0] ?? '',
      username: session.username,
    };
    let accessToken: string;
    try {
      const app = msalInstance(session.ref);
      await app.getTokenCache().getAllAccounts(); // as the sample's getTokenSilent
      accessToken = (await app.acquireTokenSilent({ account, scopes: [...config.graphScopes] })).accessToken;
    } catch (error) {
      if (error instanceof InteractionRequiredAuthError || (error as { errorCode?: string }).errorCode === 'invalid_grant') {
        counters.interactionRequired++;
        return json(401, { error: 'login_required', message: 'sign in again' });
      }
      counters.errors++;
      return json(502, { error: 'token_error', message: 'token acquisition failed' });
    }
    try {
      const page = await graph.listMessages(accessToken, session.homeAccountId, { top: 10, unreadOnly: true });
      return json(200, { messages: page.messages, nextCursor: null });
    } catch {
      counters.errors++;
      return json(502, { error: 'graph_error', message: 'Graph failed' });
    }
  };

  const guard =
    (handler: (request: HttpRequest) => Promise<HttpResponseInit>) =>
    async (request: HttpRequest): Promise<HttpResponseInit> => {
      try {
        return await handler(request);
      } catch {
        counters.errors++;
        return json(500, { error: 'internal_error', message: 'baseline failed' });
      }
    };

  return {
    counters,
    routes: [
      { name: 'health', methods: ['GET'], path: '/api/health', handler: async () => json(200, { status: 'ok' }) },
      { name: 'login', methods: ['GET'], path: '/api/login', handler: guard(login) },
      { name: 'callback', methods: ['GET'], path: '/api/callback', handler: guard(callback) },
      { name: 'mail', methods: ['GET'], path: '/api/mail', handler: guard(mail) },
    ],
  };
}

/**
 * A real msal-node ConfidentialClientApplication that can never reach the network: the authority's
 * metadata is given inline (knownAuthorities + authorityMetadata, so no discovery), and the network
 * module refuses every GET and answers token POSTs from a test-provided function.
 */
import { ConfidentialClientApplication, type ICachePlugin, type INetworkModule, type NetworkResponse } from '@azure/msal-node';
import { AUTHORITY, CLIENT_ID, ENVIRONMENT, TENANT_ID, idTokenFor, secret, type Identity } from './msal-cache-fixture';

export const AUTHORITY_METADATA = JSON.stringify({
  issuer: `${AUTHORITY}/v2.0`,
  authorization_endpoint: `${AUTHORITY}/oauth2/v2.0/authorize`,
  token_endpoint: `${AUTHORITY}/oauth2/v2.0/token`,
  end_session_endpoint: `${AUTHORITY}/oauth2/v2.0/logout`,
  jwks_uri: `${AUTHORITY}/discovery/v2.0/keys`,
  response_types_supported: ['code'],
  subject_types_supported: ['pairwise'],
  id_token_signing_alg_values_supported: ['RS256'],
  scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
});

export type TokenEndpoint = (body: URLSearchParams) => Promise<Record<string, unknown>>;

export interface NetworkLog {
  gets: string[];
  posts: URLSearchParams[];
}

export function offlineNetwork(tokenEndpoint: TokenEndpoint, log: NetworkLog): INetworkModule {
  return {
    async sendGetRequestAsync<T>(url: string): Promise<NetworkResponse<T>> {
      log.gets.push(url);
      throw new Error(`unexpected GET ${url}`);
    },
    async sendPostRequestAsync<T>(url: string, options?: { body?: string }): Promise<NetworkResponse<T>> {
      if (url.split('?')[0] !== `${AUTHORITY}/oauth2/v2.0/token`) throw new Error(`unexpected POST ${url}`);
      const body = new URLSearchParams(options?.body ?? '');
      log.posts.push(body);
      return { status: 200, headers: { 'content-type': 'application/json' }, body: (await tokenEndpoint(body)) as T };
    },
  };
}

/** What Entra answers to a refresh or code redemption: new access token, new refresh token. */
export function tokenResponse(identity: Identity, scope: string): Record<string, unknown> & { access_token: string; refresh_token: string } {
  return {
    token_type: 'Bearer',
    scope,
    expires_in: 3600,
    ext_expires_in: 3600,
    access_token: secret('AT'),
    refresh_token: secret('RT'),
    id_token: idTokenFor(identity, Math.floor(Date.now() / 1000)),
    client_info: Buffer.from(JSON.stringify({ uid: identity.oid, utid: TENANT_ID })).toString('base64url'),
  };
}

export function createApp(cachePlugin: ICachePlugin, network: INetworkModule): ConfidentialClientApplication {
  return new ConfidentialClientApplication({
    auth: {
      clientId: CLIENT_ID,
      authority: AUTHORITY,
      clientSecret: 'test-client-secret',
      knownAuthorities: [ENVIRONMENT],
      authorityMetadata: AUTHORITY_METADATA,
    },
    cache: { cachePlugin },
    system: { networkClient: network, loggerOptions: { piiLoggingEnabled: false, loggerCallback: () => {} } },
  });
}

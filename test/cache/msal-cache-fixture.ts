/**
 * Builds MSAL token caches by hand, in the schema msal-node serializes (see
 * @azure/msal-node src/cache/serializer/SerializerTypes.ts and CacheHelpers.generateCredentialKey:
 * `<homeAccountId>-<environment>-<credentialType>-<clientId>-<realm>-<target>-<scheme>`, lower-cased).
 * Secrets carry a recognisable marker so tests can scan raw storage for them.
 */
import { randomUUID } from 'node:crypto';

export const CLIENT_ID = '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
export const TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const ENVIRONMENT = 'login.bff.test';
export const AUTHORITY = `https://${ENVIRONMENT}/${TENANT_ID}`;

export interface Identity {
  readonly oid: string;
  readonly homeAccountId: string;
  readonly username: string;
}

export function newIdentity(): Identity {
  const oid = randomUUID();
  return { oid, homeAccountId: `${oid}.${TENANT_ID}`, username: `user-${oid.slice(0, 8)}@contoso.test` };
}

/** A token-looking secret with a unique marker: `<kind>-SECRET-<random>`. */
export function secret(kind: string): string {
  return `eyJ0eXAiOiJKV1QifQ.${kind}-SECRET-${randomUUID().replace(/-/g, '')}.c2ln`;
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

export function idTokenFor(identity: Identity, nowSeconds: number): string {
  const claims = {
    aud: CLIENT_ID,
    iss: `https://${ENVIRONMENT}/${TENANT_ID}/v2.0`,
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + 3600,
    name: 'Test User',
    oid: identity.oid,
    preferred_username: identity.username,
    sub: `sub-${identity.oid}`,
    tid: TENANT_ID,
    ver: '2.0',
  };
  return `${b64url({ typ: 'JWT', alg: 'RS256' })}.${b64url(claims)}.c2lnbmF0dXJl`;
}

export interface AccessTokenSpec {
  readonly target?: string;
  readonly secret?: string;
  readonly cachedAt?: number;
  readonly expiresOn?: number;
}

export function accessTokenKey(identity: Identity, target: string): string {
  return `${identity.homeAccountId}-${ENVIRONMENT}-accesstoken-${CLIENT_ID}-${TENANT_ID}-${target}-`.toLowerCase();
}

export function refreshTokenKey(identity: Identity): string {
  return `${identity.homeAccountId}-${ENVIRONMENT}-refreshtoken-${CLIENT_ID}---`.toLowerCase();
}

export function accessTokenEntry(identity: Identity, spec: AccessTokenSpec = {}) {
  const now = Math.floor(Date.now() / 1000);
  const cachedAt = spec.cachedAt ?? now;
  const expiresOn = spec.expiresOn ?? cachedAt + 3600;
  return {
    home_account_id: identity.homeAccountId,
    environment: ENVIRONMENT,
    credential_type: 'AccessToken',
    client_id: CLIENT_ID,
    secret: spec.secret ?? secret('AT'),
    realm: TENANT_ID,
    target: spec.target ?? 'Mail.Read openid profile offline_access',
    cached_at: String(cachedAt),
    expires_on: String(expiresOn),
    extended_expires_on: String(expiresOn + 3600),
    token_type: 'Bearer',
  };
}

export interface CacheSpec {
  readonly accessTokens?: readonly AccessTokenSpec[];
  readonly refreshToken?: string | null;
  readonly idToken?: string;
}

export interface BuiltCache {
  readonly json: string;
  readonly secrets: readonly string[];
}

/** A cache as msal-node would have written it after a sign-in with offline_access. */
export function buildCache(identity: Identity, spec: CacheSpec = {}): BuiltCache {
  const now = Math.floor(Date.now() / 1000);
  const accountKey = `${identity.homeAccountId}-${ENVIRONMENT}-${TENANT_ID}`.toLowerCase();
  const idToken = spec.idToken ?? idTokenFor(identity, now);
  const refreshToken = spec.refreshToken === undefined ? secret('RT') : spec.refreshToken;
  const accessTokens = (spec.accessTokens ?? [{}]).map((at) => accessTokenEntry(identity, at));
  const cache = {
    Account: {
      [accountKey]: {
        home_account_id: identity.homeAccountId,
        environment: ENVIRONMENT,
        realm: TENANT_ID,
        local_account_id: identity.oid,
        username: identity.username,
        authority_type: 'MSSTS',
        name: 'Test User',
        client_info: b64url({ uid: identity.oid, utid: TENANT_ID }),
      },
    },
    IdToken: {
      [`${identity.homeAccountId}-${ENVIRONMENT}-idtoken-${CLIENT_ID}-${TENANT_ID}--`.toLowerCase()]: {
        home_account_id: identity.homeAccountId,
        environment: ENVIRONMENT,
        credential_type: 'IdToken',
        client_id: CLIENT_ID,
        secret: idToken,
        realm: TENANT_ID,
      },
    },
    AccessToken: Object.fromEntries(accessTokens.map((at) => [accessTokenKey(identity, at.target), at])),
    RefreshToken:
      refreshToken === null
        ? {}
        : {
            [refreshTokenKey(identity)]: {
              home_account_id: identity.homeAccountId,
              environment: ENVIRONMENT,
              credential_type: 'RefreshToken',
              client_id: CLIENT_ID,
              secret: refreshToken,
            },
          },
    AppMetadata: {
      [`appmetadata-${ENVIRONMENT}-${CLIENT_ID}`]: { client_id: CLIENT_ID, environment: ENVIRONMENT },
    },
  };
  return {
    json: JSON.stringify(cache),
    secrets: [...accessTokens.map((at) => at.secret), ...(refreshToken === null ? [] : [refreshToken])],
  };
}

/** A cache padded with many access tokens (distinct scopes) to about `bytes` (never less). */
export function buildLargeCache(identity: Identity, bytes: number): BuiltCache {
  const pad = (i: number): AccessTokenSpec => ({ target: `api://resource-${i}/.default`, secret: secret('AT') + 'x'.repeat(200) });
  const perEntry = buildCache(identity, { accessTokens: [{}, pad(0)] }).json.length - buildCache(identity).json.length;
  const specs: AccessTokenSpec[] = [{}];
  let built = buildCache(identity, { accessTokens: specs });
  while (built.json.length < bytes) {
    const missing = Math.ceil((bytes - built.json.length) / perEntry);
    for (let i = 0; i < missing; i++) specs.push(pad(specs.length));
    built = buildCache(identity, { accessTokens: specs });
  }
  return built;
}

/**
 * The emulated Entra ID, driven the way the app drives the real one: msal-node's
 * ConfidentialClientApplication (authority = CLOUD_INSTANCE + tenant, knownAuthorities = the
 * emulator's host) for sign-in and refresh, @azure/identity for client credentials and managed
 * identity, and raw HTTPS where a test needs to see the wire (rotation, errors, faults).
 *
 * Runs against the emulators started by test/global-setup.js (HTTPS trusted via NODE_EXTRA_CA_CERTS).
 */
import { createHash, createPublicKey, randomBytes, verify, type JsonWebKey } from 'node:crypto';
import { ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import {
  ConfidentialClientApplication,
  InteractionRequiredAuthError,
  ServerError,
  type AuthenticationResult,
  type Configuration,
} from '@azure/msal-node';
import { issueCertificate, ensureTestCa } from '../../emulators/tls';
import { emulators, entraAdmin, entraHost, entraUser, type EntraTestClient, type EntraUser } from '../support/emulators';
import { Browser, parseForm, type Hop } from '../support/http-client';

const REDIRECT_URI = 'http://127.0.0.1:7071/api/callback';
const GRAPH_SCOPES = ['Mail.Read'];

const e = () => emulators().entra;
/**
 * This file's own app registration: its settings, faults, secrets and stats are its own, so the
 * other test files (running in parallel against the same emulator) are not disturbed.
 */
let registration: EntraTestClient;
const admin = () => registration.admin;
const clientId = () => registration.clientId;
const clientSecret = () => registration.clientSecret;

beforeAll(async () => {
  registration = await entraAdmin.createClient({ certificates: [emulators().entra.clientCertificate.cert] });
});
const authority = () => `${e().url}${e().tenantId}`;
const tokenEndpoint = () => `${authority()}/oauth2/v2.0/token`;

function decode(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()), payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) };
}

function msalApp(auth: Partial<Configuration['auth']> = {}): ConfidentialClientApplication {
  return new ConfidentialClientApplication({
    auth: { clientId: clientId(), authority: authority(), knownAuthorities: [entraHost()], clientSecret: clientSecret(), ...auth },
    system: { loggerOptions: { loggerCallback: () => {}, piiLoggingEnabled: false } },
  });
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/**
 * Plays the browser from the authorize URL to the redirect back to the app (never fetched):
 * follows the emulator's redirects, fills the sign-in form when it shows up.
 */
async function authorize(url: string, username: string, options: { browser?: Browser; password?: string; redirectUri?: string } = {}): Promise<URL> {
  const browser = options.browser ?? new Browser();
  const redirectUri = options.redirectUri ?? REDIRECT_URI;
  const password = options.password ?? emulators().entra.users.find((u) => u.username === username)?.password ?? 'Passw0rd!';
  let hop: Hop = await browser.request(url);
  for (let step = 0; step < 12; step++) {
    if (hop.status >= 300 && hop.status < 400 && hop.location) {
      if (hop.location.startsWith(redirectUri)) return new URL(hop.location);
      hop = await browser.request(hop.location);
      continue;
    }
    if (hop.status === 200 && /name="username"/.test(hop.body)) {
      const form = parseForm(hop.body, hop.url);
      hop = await browser.request(form.action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...form.fields, username, password }).toString(),
      });
      continue;
    }
    throw new Error(`unexpected answer ${hop.status} at ${hop.url}: ${hop.body.slice(0, 400)}`);
  }
  throw new Error('too many hops');
}

interface TokenAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, any>;
}

async function tokenRequest(fields: Record<string, string>, headers: Record<string, string> = {}): Promise<TokenAnswer> {
  const response = await fetch(tokenEndpoint(), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

function authorizeUrl(params: Record<string, string>): string {
  const url = new URL(`${authority()}/oauth2/v2.0/authorize`);
  const { challenge } = pkce();
  const defaults = {
    client_id: clientId(),
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    response_mode: 'query',
    scope: 'openid profile offline_access Mail.Read',
    state: randomBytes(8).toString('hex'),
    nonce: randomBytes(8).toString('hex'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries({ ...defaults, ...params })) url.searchParams.set(k, v);
  return url.href;
}

/** Sign-in + code redemption without msal: the raw token response. */
async function rawSignIn(username: string, scope = 'openid profile offline_access Mail.Read'): Promise<TokenAnswer> {
  const { verifier, challenge } = pkce();
  const callback = await authorize(authorizeUrl({ scope, code_challenge: challenge }), username);
  const code = callback.searchParams.get('code');
  expect(code).toBeTruthy();
  return tokenRequest({
    grant_type: 'authorization_code',
    client_id: clientId(),
    client_secret: clientSecret(),
    code: code!,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
    scope,
    client_info: '1',
  });
}

function refresh(refreshToken: string, scope = 'openid profile offline_access Mail.Read'): Promise<TokenAnswer> {
  return tokenRequest({ grant_type: 'refresh_token', client_id: clientId(), client_secret: clientSecret(), refresh_token: refreshToken, scope, client_info: '1' });
}

/** Signs in with msal-node (auth code + PKCE), as the app does. */
async function msalSignIn(app: ConfidentialClientApplication, username: string, extra: { claims?: string } = {}): Promise<AuthenticationResult> {
  const { verifier, challenge } = pkce();
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const url = await app.getAuthCodeUrl({
    scopes: GRAPH_SCOPES,
    redirectUri: REDIRECT_URI,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
    state,
    nonce,
    ...(extra.claims ? { claims: extra.claims } : {}),
  });
  const callback = await authorize(url, username);
  expect(callback.searchParams.get('state')).toBe(state);
  const code = callback.searchParams.get('code')!;
  // msal-node 7 checks the id token's nonce against `request.nonce` (the payload's nonce is ignored).
  return app.acquireTokenByCode(
    { code, scopes: GRAPH_SCOPES, redirectUri: REDIRECT_URI, codeVerifier: verifier, state, nonce, ...(extra.claims ? { claims: extra.claims } : {}) },
    { code, state },
  );
}

function expectEntraError(answer: TokenAnswer, error: string, code: number): void {
  expect(answer.body).toEqual(
    expect.objectContaining({
      error,
      error_codes: [code],
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
      trace_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      correlation_id: expect.any(String),
    }),
  );
  expect(answer.body['error_description']).toMatch(new RegExp(`^AADSTS${code}: `));
}

afterEach(async () => {
  await admin().reset();
});

describe('discovery', () => {
  it('serves an Entra v2 discovery document and JWKS', async () => {
    const response = await fetch(`${authority()}/v2.0/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as Record<string, any>;
    expect(doc).toEqual(
      expect.objectContaining({
        issuer: `${authority()}/v2.0`,
        authorization_endpoint: `${authority()}/oauth2/v2.0/authorize`,
        token_endpoint: `${authority()}/oauth2/v2.0/token`,
        end_session_endpoint: `${authority()}/oauth2/v2.0/logout`,
        jwks_uri: `${authority()}/discovery/v2.0/keys`,
        code_challenge_methods_supported: ['S256'],
        id_token_signing_alg_values_supported: ['RS256'],
      }),
    );
    expect(doc['token_endpoint_auth_methods_supported']).toEqual(expect.arrayContaining(['client_secret_post', 'private_key_jwt']));
    expect(doc['issuer']).toBe(e().issuer);

    const jwks = (await (await fetch(doc['jwks_uri'])).json()) as { keys: Record<string, string>[] };
    expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: expect.any(String) })]);
    expect(jwks.keys[0]).not.toHaveProperty('d');

    // The tenant's domain answers with the tenant's own document, Entra's alias authorities with the
    // issuer template (test/flows/tenants.test.ts covers them); unknown tenants are refused.
    const byDomain = (await (await fetch(`${e().url}contoso.test/v2.0/.well-known/openid-configuration`)).json()) as Record<string, any>;
    expect(byDomain['issuer']).toBe(doc['issuer']);
    const organizations = (await (await fetch(`${e().url}organizations/v2.0/.well-known/openid-configuration`)).json()) as Record<string, any>;
    expect(organizations['issuer']).toBe(`${e().url}{tenantid}/v2.0`);
    const other = await fetch(`${e().url}00000000-0000-0000-0000-000000000001/v2.0/.well-known/openid-configuration`);
    expect(other.status).toBe(400);
    expect(((await other.json()) as Record<string, unknown>)['error_codes']).toEqual([90002]);
  });
});

describe('authorization code + PKCE with msal-node', () => {
  it('signs in, issues Entra-shaped tokens, and refreshes them silently through the refresh token', async () => {
    const adele = entraUser('adele@contoso.test');
    const app = msalApp();
    const before = await admin().stats();

    const result = await msalSignIn(app, adele.username);
    const { tenantId } = e();
    expect(result.account?.homeAccountId).toBe(`${adele.oid}.${tenantId}`);
    expect(result.account?.username).toBe(adele.username);
    expect(result.account?.name).toBe(adele.name);
    expect(result.tenantId).toBe(tenantId);
    expect(result.uniqueId).toBe(adele.oid);
    expect(result.scopes).toEqual(expect.arrayContaining(['Mail.Read']));
    expect(result.idTokenClaims).toEqual(
      expect.objectContaining({
        iss: e().issuer,
        aud: clientId(),
        tid: tenantId,
        oid: adele.oid,
        name: adele.name,
        preferred_username: adele.username,
        ver: '2.0',
      }),
    );
    // sub is pairwise per app (not the oid), as in Entra; both tokens verify against the JWKS.
    const sub = (result.idTokenClaims as Record<string, unknown>)['sub'];
    expect(sub).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sub).not.toBe(adele.oid);
    expect(await verifiesWithJwks(result.idToken)).toBe(true);
    expect(await verifiesWithJwks(result.accessToken)).toBe(true);
    expect((result.expiresOn!.getTime() - Date.now()) / 1000).toBeGreaterThan(3500);

    const at = decode(result.accessToken);
    expect(at.header).toEqual(expect.objectContaining({ alg: 'RS256', typ: 'JWT', kid: expect.any(String) }));
    const jwks = (await (await fetch(e().jwksUri)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toContain(at.header['kid']);
    expect(at.payload).toEqual(
      expect.objectContaining({
        aud: 'https://graph.microsoft.com',
        iss: e().issuer,
        tid: tenantId,
        oid: adele.oid,
        scp: 'Mail.Read',
        azp: clientId(),
        ver: '2.0',
        idtyp: 'user',
        preferred_username: adele.username,
      }),
    );
    expect(at.payload['exp']).toBeGreaterThan(at.payload['iat'] as number);

    const afterSignIn = await admin().stats();
    expect(afterSignIn.authorizationCodeRedemptions - before.authorizationCodeRedemptions).toBe(1);
    expect(afterSignIn.byUser[adele.username]?.signIns).toBeGreaterThanOrEqual(1);

    // Cached: no network.
    const cached = await app.acquireTokenSilent({ account: result.account!, scopes: GRAPH_SCOPES });
    expect(cached.accessToken).toBe(result.accessToken);
    expect((await admin().stats()).refreshTokenRedemptions).toBe(afterSignIn.refreshTokenRedemptions);

    // A short access-token lifetime: the next silent call finds it inside msal's 5-minute renewal
    // window and redeems the refresh token; expires_in reflects the setting.
    await admin().setSettings({ accessTokenTtlSeconds: 60 });
    const refreshTokenBefore = cachedRefreshToken(app);
    const forced = await app.acquireTokenSilent({ account: result.account!, scopes: GRAPH_SCOPES, forceRefresh: true });
    expect(forced.accessToken).not.toBe(result.accessToken);
    expect((forced.expiresOn!.getTime() - Date.now()) / 1000).toBeLessThanOrEqual(61);
    expect(cachedRefreshToken(app)).not.toBe(refreshTokenBefore); // rotated
    const renewed = await app.acquireTokenSilent({ account: result.account!, scopes: GRAPH_SCOPES });
    expect(renewed.accessToken).not.toBe(forced.accessToken);
    expect(renewed.account?.homeAccountId).toBe(`${adele.oid}.${tenantId}`);
    expect(decode(renewed.accessToken).payload['scp']).toBe('Mail.Read');

    const afterRefresh = await admin().stats();
    expect(afterRefresh.refreshTokenRedemptions - afterSignIn.refreshTokenRedemptions).toBe(2);
    expect(afterRefresh.byUser[adele.username]!.refreshTokenRedemptions).toBeGreaterThanOrEqual(2);
  });

  it('accepts Entra-style resource-qualified scopes and echoes Graph scopes short, like Entra', async () => {
    const answer = await rawSignIn('megan@contoso.test', 'openid profile offline_access https://graph.microsoft.com/Mail.Read https://graph.microsoft.com/User.Read');
    expect(answer.status).toBe(200);
    expect(answer.body['scope'].split(' ').sort()).toEqual(['Mail.Read', 'User.Read', 'openid', 'profile']);
    expect(answer.body['token_type']).toBe('Bearer');
    expect(answer.body['ext_expires_in']).toBe(answer.body['expires_in']);
    expect(decode(answer.body['access_token']).payload['scp']).toBe('Mail.Read User.Read');
    // Entra-like token response: the OIDC scopes echoed without offline_access.
    const clientInfo = JSON.parse(Buffer.from(answer.body['client_info'], 'base64url').toString());
    expect(clientInfo).toEqual({ uid: entraUser('megan@contoso.test').oid, utid: e().tenantId });
  });

  it('issues no refresh token without offline_access', async () => {
    const answer = await rawSignIn('megan@contoso.test', 'openid profile Mail.Read');
    expect(answer.status).toBe(200);
    expect(answer.body['access_token']).toBeTruthy();
    expect(answer.body['id_token']).toBeTruthy();
    expect(answer.body).not.toHaveProperty('refresh_token');
    expect(answer.body['scope'].split(' ')).not.toContain('offline_access');
  });

  it('passes claims challenges through and marks tokens of CP1-capable clients with xms_cc', async () => {
    const app = msalApp({ clientCapabilities: ['CP1'] });
    const claims = JSON.stringify({ access_token: { nbf: { essential: true, value: '1700000000' } } });
    const result = await msalSignIn(app, 'megan@contoso.test', { claims });
    const stats = await admin().stats();
    expect(stats.lastAuthorizeClaims).toContain('"nbf"');
    expect(stats.lastTokenClaims).toContain('xms_cc');
    expect(stats.claimsRequests).toBeGreaterThanOrEqual(2);
    expect(decode(result.accessToken).payload['xms_cc']).toEqual(['cp1']);
  });

  it('rejects redemptions that do not hold together: wrong secret, wrong verifier, no credential', async () => {
    const { verifier, challenge } = pkce();
    const callback = await authorize(authorizeUrl({ code_challenge: challenge }), 'megan@contoso.test');
    const code = callback.searchParams.get('code')!;
    const base = { grant_type: 'authorization_code', client_id: clientId(), code, redirect_uri: REDIRECT_URI };

    const wrongSecret = await tokenRequest({ ...base, client_secret: 'not-the-secret', code_verifier: verifier });
    expect(wrongSecret.status).toBe(401);
    expectEntraError(wrongSecret, 'invalid_client', 7000215);

    const wrongVerifier = await tokenRequest({ ...base, client_secret: clientSecret(), code_verifier: pkce().verifier });
    expect(wrongVerifier.status).toBe(400);
    expectEntraError(wrongVerifier, 'invalid_grant', 501481);

    const noCredential = await tokenRequest({ ...base, code_verifier: verifier });
    expectEntraError(noCredential, 'invalid_client', 7000218);

    // None of these spent the code.
    expect((await tokenRequest({ ...base, client_secret: clientSecret(), code_verifier: verifier })).status).toBe(200);
  });

  it('answers AADSTS54005 when a code is redeemed twice', async () => {
    const { verifier, challenge } = pkce();
    const code = (await authorize(authorizeUrl({ code_challenge: challenge }), 'megan@contoso.test')).searchParams.get('code')!;
    const fields = { grant_type: 'authorization_code', client_id: clientId(), client_secret: clientSecret(), code, redirect_uri: REDIRECT_URI, code_verifier: verifier };
    expect((await tokenRequest(fields)).status).toBe(200);
    const second = await tokenRequest(fields);
    expectEntraError(second, 'invalid_grant', 54005);
  });

  it('throws invalid_client with AADSTS7000215 through msal for a wrong client secret', async () => {
    const app = msalApp({ clientSecret: 'wrong-secret-value' });
    const { challenge, verifier } = pkce();
    const url = await app.getAuthCodeUrl({ scopes: GRAPH_SCOPES, redirectUri: REDIRECT_URI, codeChallenge: challenge, codeChallengeMethod: 'S256' });
    const code = (await authorize(url, 'lee@contoso.test')).searchParams.get('code')!;
    const error = await app.acquireTokenByCode({ code, scopes: GRAPH_SCOPES, redirectUri: REDIRECT_URI, codeVerifier: verifier }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ServerError);
    expect((error as ServerError).errorCode).toBe('invalid_client');
    expect((error as ServerError).errorMessage).toContain('AADSTS7000215');
  });

  it('requires PKCE and exact (port-insensitive for loopback) redirect URIs', async () => {
    const noPkce = new URL(authorizeUrl({}));
    noPkce.searchParams.delete('code_challenge');
    noPkce.searchParams.delete('code_challenge_method');
    const hop = await new Browser().request(noPkce.href);
    expect(hop.status).toBe(303);
    const location = new URL(hop.location!);
    expect(location.href.startsWith(REDIRECT_URI)).toBe(true);
    expect(location.searchParams.get('error')).toBe('invalid_request');

    const foreign = await new Browser().request(authorizeUrl({ redirect_uri: 'https://evil.example/api/callback' }));
    expect(foreign.status).toBe(400);
    expect(foreign.location).toBeNull();

    // Entra ignores the port of loopback redirect URIs.
    const otherPort = 'http://127.0.0.1:54321/api/callback';
    const callback = await authorize(authorizeUrl({ redirect_uri: otherPort }), 'megan@contoso.test', { redirectUri: otherPort });
    expect(callback.searchParams.get('code')).toBeTruthy();
  });
});

describe('refresh tokens', () => {
  it('returns a new refresh token on every use; as in Entra, the redeemed one stays redeemable', async () => {
    const signIn = await rawSignIn('megan@contoso.test');
    const rt1 = signIn.body['refresh_token'] as string;
    expect(rt1).toBeTruthy();

    const first = await refresh(rt1);
    expect(first.status).toBe(200);
    const rt2 = first.body['refresh_token'] as string;
    expect(rt2).toBeTruthy();
    expect(rt2).not.toBe(rt1);
    expect(first.body['client_info']).toBeTruthy();
    expect(first.body['id_token']).toBeTruthy();

    // The old token again (say its answer was lost to a client timeout): a full answer, a third token.
    const replay = await refresh(rt1);
    expect(replay.status).toBe(200);
    expect(replay.body['access_token']).toBeTruthy();
    const rt3 = replay.body['refresh_token'] as string;
    expect([rt1, rt2]).not.toContain(rt3);
    expect(replay.body['client_info']).toBe(first.body['client_info']);

    // Every token of the grant still works, the old one a third time too (rt2 and rt3 for the first time).
    for (const rt of [rt2, rt3, rt1]) expect((await refresh(rt)).status).toBe(200);
    const stats = await admin().stats();
    expect(stats.rotatedRefreshTokenRedemptionAttempts).toBe(2);
    expect(stats.refreshTokenReuseDetected).toBe(0);
    expect(stats.refreshTokenRedemptions).toBe(5);
  });

  it('redeems concurrent uses of one refresh token each, without reuse detection', async () => {
    const rt1 = (await rawSignIn('megan@contoso.test')).body['refresh_token'] as string;
    const answers = await Promise.all([refresh(rt1), refresh(rt1), refresh(rt1)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(new Set(answers.map((a) => a.body['refresh_token'])).size).toBe(3);
    expect((await admin().stats()).refreshTokenReuseDetected).toBe(0);
  });

  it('a revoked user: the redeemed refresh token and its successor both fail with AADSTS50173', async () => {
    const lee: EntraUser = await entraAdmin.createUser({ name: 'Lee Rotated' });
    const rt1 = (await rawSignIn(lee.username)).body['refresh_token'] as string;
    const rt2 = (await refresh(rt1)).body['refresh_token'] as string;
    expect((await refresh(rt1)).status).toBe(200);

    expect(await entraAdmin.revokeUser(lee.username)).toBeGreaterThanOrEqual(1);
    for (const rt of [rt1, rt2]) {
      const answer = await refresh(rt);
      expect(answer.status).toBe(400);
      expectEntraError(answer, 'invalid_grant', 50173);
    }
  });

  it('with reuse detection on, redeeming a rotated refresh token revokes the whole grant', async () => {
    await admin().setSettings({ refreshTokenReuseDetection: true });
    const signIn = await rawSignIn('megan@contoso.test');
    const rt1 = signIn.body['refresh_token'] as string;
    const rt2 = (await refresh(rt1)).body['refresh_token'] as string;

    const replay = await refresh(rt1);
    expectEntraError(replay, 'invalid_grant', 50173);
    const victim = await refresh(rt2);
    expectEntraError(victim, 'invalid_grant', 50173);
    expect((await admin().stats()).refreshTokenReuseDetected).toBe(1);
  });

  it('turning reuse detection on catches a refresh token rotated while it was off', async () => {
    const rt1 = (await rawSignIn('megan@contoso.test')).body['refresh_token'] as string;
    const rt2 = (await refresh(rt1)).body['refresh_token'] as string;
    await admin().setSettings({ refreshTokenReuseDetection: true });

    expectEntraError(await refresh(rt1), 'invalid_grant', 50173);
    expectEntraError(await refresh(rt2), 'invalid_grant', 50173);
    expect((await admin().stats()).refreshTokenReuseDetected).toBe(1);
  });

  it('fails with invalid_grant (AADSTS50173) after the user is revoked, through msal too', async () => {
    // A user of its own: revoking a seeded user would disturb the other test files.
    const lee: EntraUser = await entraAdmin.createUser({ name: 'Lee Revoked' });
    const app = msalApp();
    const result = await msalSignIn(app, lee.username);
    const raw = await rawSignIn(lee.username);
    const browser = new Browser();
    await authorize(authorizeUrl({}), lee.username, { browser });
    const sso = await browser.request(authorizeUrl({}));
    expect(sso.location).not.toContain('/login/'); // signed in at the emulator: no form

    expect(await entraAdmin.revokeUser(lee.username)).toBeGreaterThanOrEqual(1);

    expectEntraError(await refresh(raw.body['refresh_token']), 'invalid_grant', 50173);
    const error = await app.acquireTokenSilent({ account: result.account!, scopes: GRAPH_SCOPES, forceRefresh: true }).catch((err: unknown) => err);
    expect(error instanceof InteractionRequiredAuthError || error instanceof ServerError).toBe(true);
    expect((error as ServerError).errorCode).toBe('invalid_grant');
    expect((error as ServerError).errorMessage).toContain('AADSTS50173');

    // The user's browser session is gone too: the next authorize shows the sign-in form again,
    // and signing in again works.
    const next = await browser.request(authorizeUrl({}));
    expect(next.location).toContain('/login/');
    expect((await browser.request(next.location!)).body).toContain('name="password"');
    const again = await msalSignIn(app, lee.username);
    expect(again.account?.homeAccountId).toBe(`${lee.oid}.${e().tenantId}`);
  });

  it('keeps app registrations apart: settings, faults and stats of one do not touch another', async () => {
    const other = await entraAdmin.createClient();
    // The same user has a different (pairwise) sub in each app, and the same oid.
    const mine = decode((await rawSignIn('megan@contoso.test')).body['id_token']).payload;
    const { verifier, challenge } = pkce();
    const code = (await authorize(authorizeUrl({ client_id: other.clientId, code_challenge: challenge }), 'megan@contoso.test')).searchParams.get('code')!;
    const theirs = decode(
      (await tokenRequest({ grant_type: 'authorization_code', client_id: other.clientId, client_secret: other.clientSecret, code, redirect_uri: REDIRECT_URI, code_verifier: verifier })).body['id_token'],
    ).payload;
    expect(theirs['oid']).toBe(mine['oid']);
    expect(theirs['sub']).not.toBe(mine['sub']);

    await admin().fault({ status: 503, count: 5 });
    await admin().setSettings({ accessTokenTtlSeconds: 120 });
    const answer = await tokenRequest({ grant_type: 'client_credentials', client_id: other.clientId, client_secret: other.clientSecret, scope: 'https://vault.azure.net/.default' });
    expect(answer.status).toBe(200);
    expect(answer.body['expires_in']).toBe(3600);
    expect((await other.admin.stats()).clientCredentialsGrants).toBe(1);
    expect((await admin().stats()).clientCredentialsGrants).toBe(0);
    // and a client's secret is not another's
    const crossed = await tokenRequest({ grant_type: 'client_credentials', client_id: other.clientId, client_secret: clientSecret(), scope: 'https://vault.azure.net/.default' });
    expectEntraError(crossed, 'invalid_client', 7000215);
  });

  it('honours an unknown or garbage refresh token with invalid_grant', async () => {
    expectEntraError(await refresh('garbage'), 'invalid_grant', 70000);
  });
});

describe('client credentials', () => {
  it('issues app tokens for resource/.default through msal and @azure/identity', async () => {
    const app = msalApp();
    const result = await app.acquireTokenByClientCredential({ scopes: ['https://vault.azure.net/.default'] });
    const at = decode(result!.accessToken);
    expect(at.payload).toEqual(
      expect.objectContaining({ aud: 'https://vault.azure.net', iss: e().issuer, tid: e().tenantId, idtyp: 'app', azp: clientId(), appid: clientId() }),
    );
    expect(at.payload).not.toHaveProperty('scp');

    const credential = new ClientSecretCredential(e().tenantId, clientId(), clientSecret(), {
      authorityHost: e().url,
      disableInstanceDiscovery: true,
    });
    const token = await credential.getToken('https://vault.azure.net/.default');
    expect(decode(token.token).payload['aud']).toBe('https://vault.azure.net');
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3000_000);
    expect((await admin().stats()).clientCredentialsGrants).toBe(2);
  });

  it('answers like Entra for scopes without /.default and for secrets being rotated', async () => {
    const bad = await tokenRequest({ grant_type: 'client_credentials', client_id: clientId(), client_secret: clientSecret(), scope: 'https://vault.azure.net/user_impersonation' });
    expectEntraError(bad, 'invalid_scope', 1002012);

    const newSecret = `new8Q~${randomBytes(24).toString('base64url')}`;
    await admin().setClientSecret([clientSecret(), newSecret]);
    const both = await Promise.all(
      [clientSecret(), newSecret].map((secret) =>
        tokenRequest({ grant_type: 'client_credentials', client_id: clientId(), client_secret: secret, scope: 'https://vault.azure.net/.default' }),
      ),
    );
    expect(both.map((a) => a.status)).toEqual([200, 200]);
    await admin().setClientSecret(newSecret);
    const old = await tokenRequest({ grant_type: 'client_credentials', client_id: clientId(), client_secret: clientSecret(), scope: 'https://vault.azure.net/.default' });
    expectEntraError(old, 'invalid_client', 7000215);
  });

  it('accepts certificate assertions for the registered certificate only', async () => {
    const { cert, key, thumbprintSha256 } = e().clientCertificate;
    const app = msalApp({ clientSecret: undefined, clientCertificate: { thumbprintSha256, privateKey: key, x5c: cert } } as unknown as Partial<Configuration["auth"]>);
    const result = await app.acquireTokenByClientCredential({ scopes: ['https://vault.azure.net/.default'] });
    expect(decode(result!.accessToken).payload['azpacr']).toBe('2');

    const stranger = issueCertificate(ensureTestCa(), { keyType: 'rsa', usage: 'client', commonName: 'not-registered' });
    const strangerThumbprint = createHash('sha256').update(Buffer.from(stranger.cert.replace(/-----[^-]+-----|\s/g, ''), 'base64')).digest('hex');
    const other = msalApp({ clientSecret: undefined, clientCertificate: { thumbprintSha256: strangerThumbprint, privateKey: stranger.key } } as unknown as Partial<Configuration["auth"]>);
    const error = await other.acquireTokenByClientCredential({ scopes: ['https://vault.azure.net/.default'] }).catch((err: unknown) => err);
    expect((error as ServerError).errorCode).toBe('invalid_client');
    expect((error as ServerError).errorMessage).toContain('AADSTS700027');
    expect((await admin().stats()).clientAuthentications['certificate']).toBe(1);
  });
});

describe('managed identity', () => {
  const msiUrl = (params: Record<string, string>) => `${e().msiEndpoint}?${new URLSearchParams({ 'api-version': '2019-08-01', ...params }).toString()}`;

  it('serves App Service style tokens signed by the same keys', async () => {
    const response = await fetch(msiUrl({ resource: 'https://vault.azure.net', client_id: e().managedIdentityClientId }), {
      headers: { 'X-IDENTITY-HEADER': e().msiHeader },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, string>;
    expect(body).toEqual({ access_token: expect.any(String), expires_on: expect.stringMatching(/^\d+$/), resource: 'https://vault.azure.net', token_type: 'Bearer', client_id: e().managedIdentityClientId });
    const at = decode(body['access_token']!);
    expect(at.payload).toEqual(expect.objectContaining({ aud: 'https://vault.azure.net', iss: e().issuer, sub: e().managedIdentityPrincipalId, oid: e().managedIdentityPrincipalId, tid: e().tenantId }));
    const jwks = (await (await fetch(e().jwksUri)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toContain(at.header['kid']);

    const noHeader = await fetch(msiUrl({ resource: 'https://vault.azure.net' }));
    expect(noHeader.status).toBe(401);
    const wrongIdentity = await fetch(msiUrl({ resource: 'https://vault.azure.net', client_id: '11111111-1111-1111-1111-111111111111' }), { headers: { 'X-IDENTITY-HEADER': e().msiHeader } });
    expect(wrongIdentity.status).toBe(400);
  });

  it('works with @azure/identity ManagedIdentityCredential through IDENTITY_ENDPOINT / IDENTITY_HEADER', async () => {
    const saved = { endpoint: process.env['IDENTITY_ENDPOINT'], header: process.env['IDENTITY_HEADER'] };
    process.env['IDENTITY_ENDPOINT'] = e().msiEndpoint;
    process.env['IDENTITY_HEADER'] = e().msiHeader;
    try {
      const credential = new ManagedIdentityCredential({ clientId: e().managedIdentityClientId });
      const token = await credential.getToken('https://vault.azure.net/.default');
      expect(decode(token.token).payload['aud']).toBe('https://vault.azure.net');
    } finally {
      restoreEnv('IDENTITY_ENDPOINT', saved.endpoint);
      restoreEnv('IDENTITY_HEADER', saved.header);
    }
  });

  it('lets the app authenticate with a federated managed-identity assertion (workload identity federation)', async () => {
    const exchangeToken = async (resource: string): Promise<string> => {
      const response = await fetch(msiUrl({ resource, client_id: e().managedIdentityClientId }), { headers: { 'X-IDENTITY-HEADER': e().msiHeader } });
      return ((await response.json()) as { access_token: string }).access_token;
    };
    const assertion = await exchangeToken('api://AzureADTokenExchange');
    expect(decode(assertion).payload['aud']).toBe('api://AzureADTokenExchange');

    const app = msalApp({ clientSecret: undefined, clientAssertion: async () => exchangeToken('api://AzureADTokenExchange') } as unknown as Partial<Configuration["auth"]>);
    const result = await app.acquireTokenByClientCredential({ scopes: ['https://vault.azure.net/.default'] });
    expect(decode(result!.accessToken).payload['aud']).toBe('https://vault.azure.net');
    expect((await admin().stats()).clientAuthentications['federated']).toBe(1);

    // A token for another audience is no federated credential.
    const wrong = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: clientId(),
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await exchangeToken('https://vault.azure.net'),
      scope: 'https://vault.azure.net/.default',
    });
    expectEntraError(wrong, 'invalid_client', 700212);
    // Nor is a forged one.
    const [h, p] = assertion.split('.');
    const forged = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: clientId(),
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: `${h}.${p}.${randomBytes(256).toString('base64url')}`,
      scope: 'https://vault.azure.net/.default',
    });
    expectEntraError(forged, 'invalid_client', 700027);
  });
});

describe('sign-in page, sign-out and admin controls', () => {
  it('shows a sign-in form, refuses a wrong password, and lets the user cancel', async () => {
    const browser = new Browser();
    const first = await browser.request(authorizeUrl({ login_hint: 'megan@contoso.test' }));
    expect(first.status).toBe(303);
    const page = await browser.request(first.location!);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>Sign in — Emulated Entra ID</title>');
    expect(page.body).toContain('value="megan@contoso.test"');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const form = parseForm(page.body, page.url);
    expect(Object.keys(form.fields)).toEqual(expect.arrayContaining(['username', 'password']));

    const post = (fields: Record<string, string>) =>
      browser.request(form.action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
    const wrong = await post({ username: 'megan@contoso.test', password: 'nope' });
    expect(wrong.status).toBe(200);
    expect(wrong.body).toContain('AADSTS50126');
    expect((await admin().stats()).failedSignIns).toBe(1);

    const cancel = await post({ username: '', password: '', cancel: '1' });
    expect(cancel.status).toBe(303);
    const resumed = await browser.request(cancel.location!);
    const back = new URL(resumed.location!);
    expect(back.href.startsWith(REDIRECT_URI)).toBe(true);
    expect(back.searchParams.get('error')).toBe('access_denied');
  });

  it('reports bad scopes the Entra way on the redirect', async () => {
    const multi = await new Browser().request(authorizeUrl({ scope: 'openid https://graph.microsoft.com/Mail.Read https://vault.azure.net/user_impersonation' }));
    const location = new URL(multi.location!);
    expect(location.searchParams.get('error')).toBe('invalid_scope');
    expect(location.searchParams.get('error_description')).toMatch(/^AADSTS28000:/);

    const unknown = await new Browser().request(authorizeUrl({ scope: 'openid Mail.Fly' }));
    expect(new URL(unknown.location!).searchParams.get('error_description')).toMatch(/^AADSTS70011:/);
  });

  it('signs the user out and returns to the registered post-logout URI; the next sign-in asks again', async () => {
    const browser = new Browser();
    await authorize(authorizeUrl({}), 'megan@contoso.test', { browser });
    // Signed in: a second authorize goes straight back with a code.
    const silent = await browser.request(authorizeUrl({}));
    expect(silent.location?.startsWith(REDIRECT_URI) || (await browser.request(silent.location!)).location?.startsWith(REDIRECT_URI)).toBe(true);

    const postLogout = 'http://127.0.0.1:7071/';
    const logout = await browser.request(`${authority()}/oauth2/v2.0/logout?post_logout_redirect_uri=${encodeURIComponent(postLogout)}`);
    expect(logout.status).toBe(200);
    expect(logout.body).toContain('Sign out — Emulated Entra ID');
    const form = parseForm(logout.body, logout.url);
    const done = await browser.post(form.action, form.fields);
    expect(done.status).toBe(303);
    expect(done.location).toBe(postLogout);

    const next = await browser.request(authorizeUrl({}));
    const page = await browser.request(next.location!);
    expect(page.body).toContain('name="password"');
  });

  it('fails the token endpoint on demand with 503 and Retry-After, then recovers', async () => {
    await admin().fault({ status: 503, count: 1, retryAfterSeconds: 2 });
    const fields = { grant_type: 'client_credentials', client_id: clientId(), client_secret: clientSecret(), scope: 'https://vault.azure.net/.default' };
    const failed = await tokenRequest(fields);
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('2');
    expectEntraError(failed, 'temporarily_unavailable', 90033);
    expect((await tokenRequest(fields)).status).toBe(200);
    expect((await admin().stats()).faultsServed).toBe(1);
  });

  it('adds latency on demand and validates admin input', async () => {
    await admin().setSettings({ latencyMs: 300 });
    const started = Date.now();
    await tokenRequest({ grant_type: 'client_credentials', client_id: clientId(), client_secret: clientSecret(), scope: 'https://vault.azure.net/.default' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await expect(admin().setSettings({ accessTokenTtlSeconds: -1 })).rejects.toThrow(/400/);
    await expect(entraAdmin.revokeUser('nobody@contoso.test')).rejects.toThrow(/404/);
    expect(await admin().settings()).toEqual({ accessTokenTtlSeconds: 3600, refreshTokenTtlSeconds: 7776000, refreshTokenReuseDetection: false, latencyMs: 300 });
  });
});

async function verifiesWithJwks(jwt: string): Promise<boolean> {
  const [h, p, sig] = jwt.split('.') as [string, string, string];
  const { kid } = JSON.parse(Buffer.from(h, 'base64url').toString()) as { kid: string };
  const jwks = (await (await fetch(e().jwksUri)).json()) as { keys: (JsonWebKey & { kid: string })[] };
  const jwk = jwks.keys.find((k) => k.kid === kid);
  if (!jwk) return false;
  return verify('sha256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(sig, 'base64url'));
}

function cachedRefreshToken(app: ConfidentialClientApplication): string | undefined {
  const cache = JSON.parse(app.getTokenCache().serialize()) as { RefreshToken?: Record<string, { secret: string }> };
  return Object.values(cache.RefreshToken ?? {})[0]?.secret;
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

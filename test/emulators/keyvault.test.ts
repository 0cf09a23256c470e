/**
 * The Key Vault stand-in, driven by the real `SecretClient` with a real `TokenCredential` (one that
 * mints RS256 JWTs signed by the test issuer's key), over HTTPS with a certificate from the test CA.
 *
 * Run under `node scripts/with-test-ca.mjs npx jest ...` (NODE_EXTRA_CA_CERTS = the test CA). When
 * run without it, the test hands the same CA to the SDK through `tlsOptions.ca` instead; either way
 * certificates are verified.
 */
import { realpathSync } from 'node:fs';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { RestError } from '@azure/core-rest-pipeline';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { startKeyVault, type KeyVaultEmulator } from '../../emulators/keyvault';
import { ensureTestCa, issueServerCertificate, type TestCa } from '../../emulators/tls';
import { bearer, request, type TestResponse } from './helpers/http';
import { createSigningKey, signJwt, startTestIssuer, type TestIssuer } from './helpers/token-issuer';

const APP_OID = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const VAULT_AUDIENCE = 'https://vault.azure.net';
const PEM = '-----BEGIN PRIVATE KEY-----\nMIIB...\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nMIIC...\n-----END CERTIFICATE-----\n';

let ca: TestCa;
let issuer: TestIssuer;
let vault: KeyVaultEmulator;
let caTrustedByProcess: boolean;

interface TokenCall {
  readonly scopes: string[];
  readonly tenantId: string | undefined;
}

/** A real TokenCredential: what DefaultAzureCredential would hand the SDK, minted by the test issuer. */
class TestCredential implements TokenCredential {
  readonly calls: TokenCall[] = [];
  constructor(private readonly claims: Record<string, unknown> = {}) {}
  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    this.calls.push({ scopes: Array.isArray(scopes) ? scopes : [scopes], tenantId: options?.tenantId });
    return { token: issuer.token({ aud: VAULT_AUDIENCE, oid: APP_OID, idtyp: 'app', ...this.claims }), expiresOnTimestamp: Date.now() + 3600_000 };
  }
}

function clientFor(credential: TokenCredential, extra: SecretClientOptions = {}): SecretClient {
  return new SecretClient(vault.url, credential, {
    // The vault is not under *.vault.azure.net; the app does the same for non-Azure hosts only.
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
    ...(caTrustedByProcess ? {} : { tlsOptions: { ca: ca.certPem } }),
    ...extra,
  });
}

function admin(method: string, path: string, body?: unknown): Promise<TestResponse> {
  return request(new URL(path, vault.url).toString(), { method, body, ca: ca.certPem });
}

function raw(path: string, token?: string): Promise<TestResponse> {
  return request(new URL(path, vault.url).toString(), { headers: token ? bearer(token) : {}, ca: ca.certPem });
}

async function restError(promise: Promise<unknown>): Promise<RestError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RestError) return error;
    throw error;
  }
  throw new Error('expected a RestError');
}

beforeAll(async () => {
  ca = ensureTestCa();
  const extra = process.env['NODE_EXTRA_CA_CERTS'];
  caTrustedByProcess = extra !== undefined && safeRealpath(extra) === safeRealpath(ca.certPath);
  const tls = issueServerCertificate(ca);
  issuer = await startTestIssuer({ tls });
  vault = await startKeyVault({
    tls,
    issuer: issuer.issuer,
    jwksUri: issuer.jwksUri,
    jwksCa: ca.certPem,
    secrets: { 'client-secret': 'first-secret-value', 'signing-cert': { value: PEM, contentType: 'application/x-pem-file' } },
  });
});

afterAll(async () => {
  await vault?.stop();
  await issuer?.stop();
});

afterEach(async () => {
  await admin('POST', '_emulator/down', { down: false });
  await admin('DELETE', '_emulator/deny');
  await admin('PUT', '_emulator/settings', { latencyMs: 0 });
});

function safeRealpath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

describe('the challenge protocol with the real SecretClient', () => {
  test('reads a secret: a 401 challenge first, then the token for https://vault.azure.net/.default', async () => {
    expect(vault.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    await admin('POST', '_emulator/stats/reset');
    const credential = new TestCredential();
    const secret = await clientFor(credential).getSecret('client-secret');
    expect(secret.value).toBe('first-secret-value');
    expect(secret.name).toBe('client-secret');
    expect(secret.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(secret.properties.id).toBe(`${vault.url}secrets/client-secret/${secret.properties.version}`);
    expect(secret.properties.vaultUrl).toBe(vault.url.replace(/\/$/, ''));
    expect(secret.properties.enabled).toBe(true);
    expect(secret.properties.recoveryLevel).toBe('Recoverable+Purgeable');
    expect(secret.properties.createdOn).toBeInstanceOf(Date);
    expect(credential.calls).toEqual([{ scopes: ['https://vault.azure.net/.default'], tenantId: issuer.tenantId }]);
    const stats = (await admin('GET', '_emulator/stats')).json;
    expect(stats).toMatchObject({ secretReads: 1, byName: { 'client-secret': 1 }, challenges: 1, requests: 2, byStatus: { '200': 1, '401': 1 } });
  });

  test('the raw challenge: Bearer authorization=<authority>, resource=https://vault.azure.net', async () => {
    const response = await raw('secrets/client-secret?api-version=7.5');
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe(`Bearer authorization="${issuer.authority}", resource="https://vault.azure.net"`);
    expect(response.json.error.code).toBe('Unauthorized');
    expect(response.headers['x-ms-request-id']).toBeDefined();
  });

  test('without disableChallengeResourceVerification the SDK refuses a vault outside *.vault.azure.net', async () => {
    const client = clientFor(new TestCredential(), { disableChallengeResourceVerification: false });
    await expect(client.getSecret('client-secret')).rejects.toThrow(/does not match the requested domain/);
  });

  test('a certificate exposed as a secret keeps its contentType', async () => {
    const secret = await clientFor(new TestCredential()).getSecret('signing-cert');
    expect(secret.value).toBe(PEM);
    expect(secret.properties.contentType).toBe('application/x-pem-file');
  });
});

describe('tokens are verified like Key Vault does', () => {
  test('wrong audience (a Graph token), expired, forged and wrong issuer tokens: 401 with the challenge', async () => {
    const now = Math.floor(Date.now() / 1000);
    const tokens = {
      graphAudience: issuer.token({ aud: 'https://graph.microsoft.com', oid: APP_OID }),
      expired: issuer.token({ aud: VAULT_AUDIENCE, oid: APP_OID, iat: now - 7200, nbf: now - 7200, exp: now - 3600 }),
      forged: signJwt(createSigningKey(issuer.key.kid), { iss: issuer.issuer, aud: VAULT_AUDIENCE, oid: APP_OID, exp: now + 3600 }),
      wrongIssuer: issuer.token({ aud: VAULT_AUDIENCE, oid: APP_OID, iss: 'https://sts.windows.net/someone-else/' }),
    };
    for (const [name, token] of Object.entries(tokens)) {
      const response = await raw('secrets/client-secret?api-version=7.5', token);
      expect({ name, status: response.status, code: response.json.error.code }).toEqual({ name, status: 401, code: 'Unauthorized' });
      expect(response.headers['www-authenticate']).toContain('resource="https://vault.azure.net"');
      expect(response.text).not.toContain(token);
    }
    expect((await raw('secrets/client-secret?api-version=7.5', tokens.graphAudience)).json.error.message).toMatch(/audience/i);
  });

  test('the SDK surfaces a refused token as a 401 RestError', async () => {
    const error = await restError(clientFor(new TestCredential({ aud: 'https://graph.microsoft.com' })).getSecret('client-secret'));
    expect(error.statusCode).toBe(401);
  });

  test('the app id of Key Vault is an accepted audience too; api-version is required', async () => {
    const token = issuer.token({ aud: 'cfa8b339-82a2-471a-a3c9-0fc0be7a4093', oid: APP_OID });
    expect((await raw('secrets/client-secret/?api-version=7.4', token)).status).toBe(200);
    expect((await raw('secrets/client-secret', token)).json.error.code).toBe('BadParameter');
    expect((await raw('secrets/client-secret?api-version=1.0', token)).status).toBe(400);
    expect((await raw('secrets/bad_name?api-version=7.4', token)).json.error.code).toBe('BadParameter');
  });
});

describe('versions', () => {
  test('each set is a new version; no version means the newest; old versions stay readable', async () => {
    const client = clientFor(new TestCredential());
    const before = await client.getSecret('client-secret');
    const put = await admin('PUT', '_emulator/secrets/client-secret', { value: 'second-secret-value' });
    expect(put.status).toBe(200);
    expect(put.json.version).toMatch(/^[0-9a-f]{32}$/);
    expect(put.json.version).not.toBe(before.properties.version);

    const latest = await client.getSecret('client-secret');
    expect(latest.value).toBe('second-secret-value');
    expect(latest.properties.version).toBe(put.json.version);
    const old = await client.getSecret('client-secret', { version: before.properties.version as string });
    expect(old.value).toBe(before.value);

    const versions: string[] = [];
    for await (const properties of client.listPropertiesOfSecretVersions('client-secret')) versions.push(properties.version as string);
    expect(versions).toEqual(expect.arrayContaining([before.properties.version, put.json.version]));

    const names: string[] = [];
    for await (const properties of client.listPropertiesOfSecrets()) names.push(properties.name);
    expect(names).toEqual(expect.arrayContaining(['client-secret', 'signing-cert']));
  });

  test('setSecret through the SDK creates a version with its contentType and tags', async () => {
    const client = clientFor(new TestCredential());
    const set = await client.setSecret('rotated', 'v1', { contentType: 'text/plain', tags: { owner: 'ops' } });
    expect(set.properties.version).toMatch(/^[0-9a-f]{32}$/);
    const read = await client.getSecret('rotated');
    expect(read.value).toBe('v1');
    expect(read.properties.contentType).toBe('text/plain');
    expect(read.properties.tags).toEqual({ owner: 'ops' });
  });

  test('a disabled current version is refused (403 SecretDisabled), like Key Vault', async () => {
    const client = clientFor(new TestCredential());
    await admin('PUT', '_emulator/secrets/toggled', { value: 'on' });
    const second = await admin('PUT', '_emulator/secrets/toggled', { value: 'off', enabled: false });
    const error = await restError(client.getSecret('toggled'));
    expect(error.statusCode).toBe(403);
    expect(error.code).toBe('Forbidden');
    await admin('PATCH', `_emulator/secrets/toggled/${second.json.version}`, { enabled: true });
    expect((await client.getSecret('toggled')).value).toBe('off');
  });
});

describe('errors', () => {
  test('not found: 404 SecretNotFound, also for an unknown version and after a delete', async () => {
    const client = clientFor(new TestCredential());
    const missing = await restError(client.getSecret('no-such-secret'));
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe('SecretNotFound');
    expect(missing.message).toMatch(/A secret with \(name\/id\) no-such-secret was not found in this key vault/);

    const badVersion = await restError(client.getSecret('client-secret', { version: '0'.repeat(32) }));
    expect(badVersion.code).toBe('SecretNotFound');

    await admin('PUT', '_emulator/secrets/short-lived', { value: 'x' });
    expect((await client.getSecret('short-lived')).value).toBe('x');
    expect((await admin('DELETE', '_emulator/secrets/short-lived')).status).toBe(200);
    expect((await restError(client.getSecret('short-lived'))).statusCode).toBe(404);
  });

  test('a denied principal: 403 Forbidden / ForbiddenByRbac; allowed again afterwards', async () => {
    const client = clientFor(new TestCredential());
    await admin('POST', '_emulator/deny', { oid: APP_OID });
    const error = await restError(client.getSecret('client-secret'));
    expect(error.statusCode).toBe(403);
    expect(error.code).toBe('Forbidden');
    const body = (await raw('secrets/client-secret?api-version=7.5', issuer.token({ aud: VAULT_AUDIENCE, oid: APP_OID }))).json;
    expect(body.error.innererror.code).toBe('ForbiddenByRbac');
    expect(body.error.message).toMatch(/^Caller is not authorized to perform action on resource/);
    // another principal is not affected
    expect((await clientFor(new TestCredential({ oid: 'another-principal' })).getSecret('client-secret')).value).toBeDefined();
    await admin('POST', '_emulator/deny', { oid: APP_OID, deny: false });
    expect((await client.getSecret('client-secret')).value).toBeDefined();
  });

  test('down: 503 ServiceUnavailable for the data plane (admin routes still answer), then back', async () => {
    const client = clientFor(new TestCredential());
    await admin('POST', '_emulator/down', { down: true, retryAfterSeconds: 3 });
    const error = await restError(client.getSecret('client-secret'));
    expect(error.statusCode).toBe(503);
    expect(error.code).toBe('ServiceUnavailable');
    const rawDown = await raw('secrets/client-secret?api-version=7.5');
    expect(rawDown.status).toBe(503);
    expect(rawDown.headers['retry-after']).toBe('3');
    expect((await admin('GET', '_emulator/stats')).status).toBe(200);
    await admin('POST', '_emulator/down', { down: false });
    expect((await client.getSecret('client-secret')).value).toBeDefined();
  });
});

describe('admin routes', () => {
  test('stats count successful reads per name and reset', async () => {
    await admin('POST', '_emulator/stats/reset');
    const client = clientFor(new TestCredential());
    await client.getSecret('client-secret');
    await client.getSecret('client-secret');
    await client.getSecret('signing-cert');
    await restError(client.getSecret('nope'));
    const stats = (await admin('GET', '_emulator/stats')).json;
    expect(stats.secretReads).toBe(3);
    expect(stats.byName).toEqual({ 'client-secret': 2, 'signing-cert': 1 });
    await admin('POST', '_emulator/stats/reset');
    expect((await admin('GET', '_emulator/stats')).json).toMatchObject({ secretReads: 0, byName: {} });
  });

  test('latency applies to the data plane', async () => {
    await admin('PUT', '_emulator/settings', { latencyMs: 200 });
    const client = clientFor(new TestCredential());
    const started = Date.now();
    await client.getSecret('client-secret'); // two round trips: challenge + authorized
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
  });

  test('bad admin input is a 400, unknown routes a 404', async () => {
    expect((await admin('PUT', '_emulator/secrets/x', { value: 42 })).status).toBe(400);
    expect((await admin('PUT', '_emulator/secrets/not_valid', { value: 'v' })).status).toBe(400);
    expect((await admin('POST', '_emulator/deny', {})).status).toBe(400);
    expect((await admin('POST', '_emulator/down', { down: 'yes' })).status).toBe(400);
    expect((await admin('PUT', '_emulator/settings', { latencyMs: 'slow' })).status).toBe(400);
    expect((await admin('GET', '_emulator/unknown')).status).toBe(404);
  });
});

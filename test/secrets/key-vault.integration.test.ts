/**
 * The vault-backed secrets against the emulated Azure, through the real SDKs: `SecretClient` with
 * `DefaultAzureCredential` on the emulated App Service managed-identity endpoint (IDENTITY_ENDPOINT +
 * IDENTITY_HEADER), and msal-node client_credentials grants against the emulated Entra.
 *
 * This file starts its own Key Vault stand-in (trusting the shared emulated Entra's tokens) so that
 * taking it down, denying the identity and changing secrets never disturbs other test files. The
 * rotation test adds secrets to the shared Entra app next to the original one and restores it after.
 *
 * Run: node scripts/with-test-ca.mjs npx jest test/secrets
 */
import { randomBytes } from 'node:crypto';
import { createMsalAppFactory } from '../../src/auth/msal-app';
import { withCredentialRetry } from '../../src/auth/credential-retry';
import { loadConfig } from '../../src/config';
import { createServices } from '../../src/create-services';
import { AppError } from '../../src/errors';
import { errorResponse } from '../../src/http/handle-errors';
import { createSecrets, type SecretsConfig } from '../../src/secrets/create-secrets';
import type { WithCache } from '../../src/secrets/key-vault';
import type { ManagedIdentityAssertionProvider } from '../../src/secrets/managed-identity';
import type { ClientCredentialProvider } from '../../src/secrets/types';
import type { KeyVaultEmulator } from '../../emulators/keyvault';
import { emulators, entraAdmin, entraHost } from '../support/emulators';
import { startOwnKeyVault, type OwnKeyVault } from '../support/key-vault';

const SCOPES = ['https://graph.microsoft.com/.default'];

let own: OwnKeyVault;
let vault: KeyVaultEmulator;
let vaultUrl: string;
const SECRET_A = `rotA8Q~${randomBytes(18).toString('base64url')}`;
const SECRET_B = `rotB8Q~${randomBytes(18).toString('base64url')}`;
const RING = `k1:${randomBytes(32).toString('base64')}`;

beforeAll(async () => {
  const info = emulators();
  own = await startOwnKeyVault({
    'client-secret': info.entra.clientSecret,
    'key-ring': RING,
    'client-certificate': { value: `${info.entra.clientCertificate.key}${info.entra.clientCertificate.cert}`, contentType: 'application/x-pem-file' },
  });
  vault = own.vault;
  // KEY_VAULT_URL as loadConfig keeps it: the origin, no trailing slash.
  vaultUrl = new URL(vault.url).origin;
});

afterAll(async () => {
  await own?.stop();
});

afterEach(async () => {
  await own.admin('POST', 'down', { down: false });
  await own.admin('DELETE', 'deny');
});

async function vaultStats(): Promise<{ secretReads: number; byName: Record<string, number>; byStatus: Record<string, number> }> {
  return own.admin('GET', 'stats');
}

function secretsConfig(over: Partial<SecretsConfig> = {}): SecretsConfig {
  const info = emulators();
  return {
    keyVaultUrl: vaultUrl,
    clientCredential: 'secret',
    clientSecretName: 'client-secret',
    clientCertificateName: 'client-certificate',
    keyRingSecretName: 'key-ring',
    managedIdentityClientId: info.entra.managedIdentityClientId,
    clientSecret: undefined,
    keyRing: undefined,
    cloudInstance: info.entra.url,
    ...over,
  };
}

class TestClock {
  now = Date.now();
  readonly fn = (): number => this.now;
}

function capturingLog(): { log: { warn(m: string): void; error(m: string): void }; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: { warn: (m) => lines.push(m), error: (m) => lines.push(m) } };
}

/** A client_credentials grant the way the app makes token calls: a fresh msal app per call, the credential from the provider, one retry after renew(). */
function tokenCaller(credentials: ClientCredentialProvider): () => Promise<string> {
  const info = emulators();
  const msal = createMsalAppFactory({ clientId: info.entra.clientId, authority: info.entra.authority, knownAuthorities: [entraHost()] }, credentials);
  return () =>
    withCredentialRetry(credentials, async () => {
      const app = await msal.create();
      const result = await app.acquireTokenByClientCredential({ scopes: SCOPES, skipCache: true });
      if (!result?.accessToken) throw new Error('no access token');
      return result.accessToken;
    });
}

async function caught(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected an AppError');
}

describe('reading secrets with DefaultAzureCredential on the emulated managed identity', () => {
  test('the client secret and the key ring come from the vault, over the challenge protocol', async () => {
    const info = emulators();
    const secrets = createSecrets(secretsConfig());
    expect(await secrets.credentials.current()).toEqual({ clientSecret: info.entra.clientSecret });
    const ring = await secrets.keyRing.current();
    expect(ring.kids).toEqual(['k1']);
  });

  test('50 concurrent first requests cost exactly one vault read', async () => {
    const secrets = createSecrets(secretsConfig());
    await own.admin('POST', 'stats/reset');
    const all = await Promise.all(Array.from({ length: 50 }, () => secrets.credentials.current()));
    expect(new Set(all.map((c) => JSON.stringify(c))).size).toBe(1);
    const stats = await vaultStats();
    expect(stats.secretReads).toBe(1);
    expect(stats.byName).toEqual({ 'client-secret': 1 });
    // ...and later requests none at all.
    await Promise.all(Array.from({ length: 10 }, () => secrets.credentials.current()));
    expect((await vaultStats()).secretReads).toBe(1);
  });

  test('the client secret from the vault gets tokens from Entra', async () => {
    const call = tokenCaller(createSecrets(secretsConfig()).credentials);
    expect(await call()).toMatch(/^ey/);
  });

  test('the certificate from the vault gets tokens from Entra (msal clientCertificate)', async () => {
    const info = emulators();
    const credentials = createSecrets(secretsConfig({ clientCredential: 'certificate' })).credentials;
    const credential = await credentials.current();
    expect(credential).toEqual({ clientCertificate: expect.objectContaining({ thumbprintSha256: info.entra.clientCertificate.thumbprintSha256 }) });
    await entraAdmin.resetStats();
    expect(await tokenCaller(credentials)()).toMatch(/^ey/);
    expect((await entraAdmin.stats()).clientAuthentications).toMatchObject({ certificate: expect.any(Number) });
  });
});

describe('createServices with KEY_VAULT_URL', () => {
  test('picks the vault providers: the client secret and the key ring (sealing cookies) come from the vault', async () => {
    const info = emulators();
    const config = loadConfig({ ...info.envKeyVault, KEY_VAULT_URL: vault.url });
    expect(config.keyVaultUrl).toBe(vaultUrl);
    await own.admin('POST', 'stats/reset');
    const services = createServices(config);
    expect((await vaultStats()).secretReads).toBe(0); // nothing read before first use
    expect(await services.credentials.current()).toEqual({ clientSecret: info.entra.clientSecret });
    const sealer = await services.transactionSealer();
    expect(sealer).toBeDefined();
    expect((await vaultStats()).byName).toEqual({ 'client-secret': 1, 'key-ring': 1 });
  });
});

describe('key-ring rotation across instances', () => {
  test('a sign-in cookie or mail cursor sealed with a key another instance already rotated to still opens: the ring is re-read once', async () => {
    const info = emulators();
    const [oldKey, newKey] = [`k-old:${randomBytes(32).toString('base64')}`, `k-new:${randomBytes(32).toString('base64')}`];
    await own.admin('PUT', 'secrets/rotating-ring', { value: oldKey });
    const env = { ...info.envKeyVault, KEY_VAULT_URL: vault.url, KEY_RING_SECRET_NAME: 'rotating-ring' };
    const b = createServices(loadConfig(env)); // reads the old ring and keeps it for its TTL
    await b.transactionSealer();
    await own.admin('PUT', 'secrets/rotating-ring', { value: `${newKey},${oldKey}` });
    const a = createServices(loadConfig(env)); // started after the rotation: seals with the new key
    const sealedTxn = (await a.transactionSealer()).seal('{"state":"s"}', '__Host-txn-0123456789abcdef');
    const sealedCursor = (await a.cursorSealer()).seal('$skip=10', 'cursor:user');

    await own.admin('POST', 'stats/reset');
    expect((await b.transactionSealer([sealedTxn])).unseal(sealedTxn, '__Host-txn-0123456789abcdef')).toBe('{"state":"s"}');
    expect((await b.cursorSealer([sealedCursor])).unseal(sealedCursor, 'cursor:user')).toBe('$skip=10');
    expect((await vaultStats()).byName).toEqual({ 'rotating-ring': 1 }); // one renewal, then the new ring is known
    // A value naming a kid nobody has costs no further vault read inside the renewal interval, and does not open.
    const madeUp = sealedTxn.replace('v1.k-new.', 'v1.k-nobody.');
    await expect(b.transactionSealer([madeUp]).then((sealer) => sealer.unseal(madeUp, '__Host-txn-0123456789abcdef'))).rejects.toThrow();
    expect((await vaultStats()).byName).toEqual({ 'rotating-ring': 1 });
  });
});

describe('rotation without downtime', () => {
  afterEach(async () => {
    await entraAdmin.setClientSecret(emulators().entra.clientSecret);
  });

  test('the secret changes in the vault, then in Entra, while requests run: zero failed token requests', async () => {
    const original = emulators().entra.clientSecret;
    // The original stays accepted throughout, so other test files using it are not disturbed.
    await entraAdmin.setClientSecret([original, SECRET_A]);
    await own.admin('PUT', 'secrets/rotating-secret', { value: SECRET_A });
    const { log, lines } = capturingLog();
    const secrets = createSecrets(secretsConfig({ clientSecretName: 'rotating-secret' }), { log });
    const call = tokenCaller(secrets.credentials);
    expect(await call()).toMatch(/^ey/);

    let ok = 0;
    const failures: unknown[] = [];
    let running = true;
    const worker = async (): Promise<void> => {
      while (running) {
        try {
          await call();
          ok++;
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The operator's steps: new version in the vault first, then Entra stops accepting the old one.
    await own.admin('PUT', 'secrets/rotating-secret', { value: SECRET_B });
    await entraAdmin.setClientSecret([original, SECRET_B]);
    const okAtRotation = ok;
    await new Promise((resolve) => setTimeout(resolve, 700));
    running = false;
    await Promise.all(workers);

    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(okAtRotation);
    // Requests did meet invalid_client with the old secret, and recovered through renew() + one retry.
    const cache = (secrets.credentials as WithCache<ClientCredentialProvider, string>).cache;
    expect(cache.stats.forcedReads).toBeGreaterThanOrEqual(1);
    expect(cache.stats.reads).toBeLessThanOrEqual(3);
    expect(await secrets.credentials.current()).toEqual({ clientSecret: SECRET_B });
    // Rotations stay out of the logs' values.
    expect(lines.join('\n')).not.toContain(SECRET_A);
    expect(lines.join('\n')).not.toContain(SECRET_B);
  });
});

describe('failures', () => {
  test('vault down: 503 key_vault_unavailable with Retry-After, then success once it is back, without a restart', async () => {
    const clock = new TestClock();
    const { log, lines } = capturingLog();
    const secrets = createSecrets(secretsConfig(), { clock: clock.fn, log });
    await own.admin('POST', 'down', { down: true, retryAfterSeconds: 1 });

    const error = await caught(secrets.credentials.current());
    expect(error).toMatchObject({ code: 'key_vault_unavailable', status: 503 });
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(error.message).toBe(`Key Vault ${vaultUrl} is not answering (status 503) while reading secret "client-secret": the app retries by itself; try again in a few seconds.`);
    const response = errorResponse('api', error);
    expect(response.status).toBe(503);
    expect((response.headers as Record<string, string>)['Retry-After']).toBe(String(error.retryAfterSeconds));
    expect(JSON.parse(String(response.body))).toMatchObject({ error: 'key_vault_unavailable' });

    // Inside the backoff the app does not hammer the vault.
    const before = (await vaultStats()).byStatus['503'] ?? 0;
    await expect(secrets.credentials.current()).rejects.toMatchObject({ code: 'key_vault_unavailable' });
    expect((await vaultStats()).byStatus['503'] ?? 0).toBe(before);

    await own.admin('POST', 'down', { down: false });
    clock.now += 2_000;
    expect(await secrets.credentials.current()).toEqual({ clientSecret: emulators().entra.clientSecret });
    expect(lines).toEqual([]);
  });

  test('a stale value keeps serving while the vault is down; the failed background refresh is logged', async () => {
    const clock = new TestClock();
    const { log, lines } = capturingLog();
    const secrets = createSecrets(secretsConfig(), { clock: clock.fn, log });
    const first = await secrets.credentials.current();
    await own.admin('POST', 'down', { down: true, retryAfterSeconds: 0 });
    clock.now += 11 * 60_000;
    expect(await secrets.credentials.current()).toEqual(first);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await secrets.credentials.current()).toEqual(first);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('Key Vault: could not refresh secret "client-secret"; still using the version held (read 660 s ago). key_vault_unavailable:');
    expect(lines[0]).not.toContain(emulators().entra.clientSecret);
  });

  test('a missing secret: config_invalid naming the vault, the secret and the setting', async () => {
    const secrets = createSecrets(secretsConfig({ clientSecretName: 'no-such-secret' }));
    const error = await caught(secrets.credentials.current());
    expect(error).toMatchObject({ code: 'config_invalid', status: 503 });
    expect(error.message).toBe(
      `Key Vault ${vaultUrl} has no secret "no-such-secret": add it to the vault, or set CLIENT_SECRET_NAME to the name of the secret that holds it.`,
    );
  });

  test('no permission: config_invalid naming the role and the identity that needs it', async () => {
    const info = emulators();
    await own.admin('POST', 'deny', { oid: info.entra.managedIdentityPrincipalId });
    const secrets = createSecrets(secretsConfig());
    const error = await caught(secrets.keyRing.current());
    expect(error).toMatchObject({ code: 'config_invalid', status: 503 });
    expect(error.message).toBe(
      `Key Vault ${vaultUrl} refused to let the app read secret "key-ring" (403 Forbidden): give the user-assigned managed identity with client id ` +
        `${info.entra.managedIdentityClientId} (AZURE_CLIENT_ID) the role "Key Vault Secrets User" on the vault (or, on a vault that uses access policies, ` +
        'a policy allowing Get on secrets). Role assignments take a few minutes to apply; the app retries by itself.',
    );
    expect(`${error.message}${JSON.stringify(error)}`).not.toContain(RING.split(':')[1]!);
  });

  test('a disabled current version', async () => {
    await own.admin('PUT', 'secrets/disabled-secret', { value: 'x', enabled: false });
    const error = await caught(createSecrets(secretsConfig({ clientSecretName: 'disabled-secret' })).credentials.current());
    expect(error.message).toBe(`Key Vault ${vaultUrl}: the current version of secret "disabled-secret" is disabled: enable it, or add a new enabled version.`);
  });
});

describe('CLIENT_CREDENTIAL=managedIdentity: no secret at all', () => {
  test('the managed identity token for api://AzureADTokenExchange is the client assertion Entra accepts; it is cached across calls', async () => {
    const secrets = createSecrets(secretsConfig({ clientCredential: 'managedIdentity' }));
    const credentials = secrets.credentials as ManagedIdentityAssertionProvider;
    const call = tokenCaller(credentials);
    const before = (await entraAdmin.stats()).clientAuthentications['federated'] ?? 0;
    for (let i = 0; i < 5; i++) expect(await call()).toMatch(/^ey/);
    await Promise.all(Array.from({ length: 5 }, () => call()));
    expect(credentials.stats).toEqual({ fetches: 1, failures: 0 });
    expect((await entraAdmin.stats()).clientAuthentications['federated'] ?? 0).toBeGreaterThanOrEqual(before + 10);
    const assertion = await credentials.assertion({ clientId: emulators().entra.clientId });
    const payload = JSON.parse(Buffer.from(assertion.split('.')[1]!, 'base64url').toString('utf8')) as { aud: string; sub: string };
    expect(payload.aud).toBe('api://AzureADTokenExchange');
    expect(payload.sub).toBe(emulators().entra.managedIdentityPrincipalId);
  });
});

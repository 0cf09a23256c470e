/**
 * The vault-backed providers and how the app picks them, without a network: the challenge-check
 * host rule proven through the real SecretClient with a fake HTTP client, the client-secret,
 * certificate and key-ring providers over a fake reader, and createSecrets' choices.
 */
import { randomBytes } from 'node:crypto';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { createHttpHeaders, type HttpClient, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { SecretClient } from '@azure/keyvault-secrets';
import { ensureTestCa, issueCertificate } from '../../emulators/tls';
import type { Config } from '../../src/config';
import { AppError } from '../../src/errors';
import type { SecretRead, SecretReader } from '../../src/secrets/cached-secret';
import { createSecrets, type SecretsConfig } from '../../src/secrets/create-secrets';
import {
  AZURE_KEY_VAULT_DNS_SUFFIXES,
  isAzureKeyVaultHost,
  secretClientOptions,
  vaultClientCertificate,
  vaultClientSecret,
  vaultKeyRing,
} from '../../src/secrets/key-vault';

const MI = '11111111-2222-4333-8444-555555555555';
const key = (): string => randomBytes(32).toString('base64');

class FakeReader implements SecretReader {
  readonly reads: string[] = [];
  constructor(readonly secrets: Map<string, { value: string; contentType?: string }>) {}
  async getSecret(name: string): Promise<SecretRead> {
    this.reads.push(name);
    const secret = this.secrets.get(name);
    if (!secret) throw Object.assign(new Error('not found'), { name: 'RestError', statusCode: 404, code: 'SecretNotFound' });
    return { value: secret.value, properties: { version: `${this.reads.length}`, contentType: secret.contentType } };
  }
}

describe('challenge resource verification: off only for hosts that are not Key Vault', () => {
  test.each([
    'https://contoso.vault.azure.net',
    'https://contoso.vault.azure.net/',
    'https://CONTOSO.Vault.Azure.Net',
    'https://contoso.vault.azure.cn',
    'https://contoso.vault.usgovcloudapi.net',
    'https://contoso.vault.microsoftazure.de',
    'https://contoso.managedhsm.azure.net',
    'https://contoso.managedhsm.azure.cn',
    'https://contoso.managedhsm.usgovcloudapi.net',
  ])('%s is Key Vault: verification stays on', (url) => {
    expect(isAzureKeyVaultHost(url)).toBe(true);
    expect(secretClientOptions(url)).not.toHaveProperty('disableChallengeResourceVerification');
  });

  test.each([
    'https://127.0.0.1:5444',
    'https://localhost:5444/',
    'https://keyvault.test',
    // Look-alikes: a suffix match needs the dot boundary.
    'https://evilvault.azure.net',
    'https://vault.azure.net.evil.example',
    'https://contoso.vault.azure.net.evil.example',
    'https://notvault.azure.net',
  ])('%s is not Key Vault: verification off', (url) => {
    expect(isAzureKeyVaultHost(url)).toBe(false);
    expect(secretClientOptions(url)).toMatchObject({ disableChallengeResourceVerification: true });
  });

  test('every listed suffix is a Key Vault or Managed HSM domain', () => {
    expect(AZURE_KEY_VAULT_DNS_SUFFIXES.every((s) => /^(vault|managedhsm)\./.test(s))).toBe(true);
  });

  /** Answers every request with a Key Vault challenge naming `resource`, then 200 with a secret. */
  function challengeClient(resource: string): HttpClient & { requests: PipelineRequest[] } {
    const requests: PipelineRequest[] = [];
    return {
      requests,
      async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
        requests.push(request);
        if (!request.headers.get('authorization')) {
          return {
            request,
            status: 401,
            headers: createHttpHeaders({ 'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/tenant", resource="${resource}"` }),
          };
        }
        const body = JSON.stringify({ value: 'v', id: `${new URL(request.url).origin}/secrets/s/0123456789abcdef0123456789abcdef`, attributes: { enabled: true } });
        return { request, status: 200, headers: createHttpHeaders({ 'content-type': 'application/json' }), bodyAsText: body };
      },
    };
  }

  class CountingCredential implements TokenCredential {
    scopes: string[][] = [];
    async getToken(scopes: string | string[]): Promise<AccessToken> {
      this.scopes.push(Array.isArray(scopes) ? scopes : [scopes]);
      return { token: 'header.payload.signature', expiresOnTimestamp: Date.now() + 3600_000 };
    }
  }

  test('the real SecretClient with our options refuses a challenge for a foreign resource from a real vault URL (no token is requested)', async () => {
    const url = 'https://contoso.vault.azure.net';
    const http = challengeClient('https://graph.microsoft.com');
    const credential = new CountingCredential();
    const client = new SecretClient(url, credential, { ...secretClientOptions(url), httpClient: http, retryOptions: { maxRetries: 0 } });
    await expect(client.getSecret('s')).rejects.toThrow("The challenge resource 'graph.microsoft.com' does not match the requested domain");
    expect(credential.scopes).toEqual([]);
  });

  test('a real vault URL accepts the genuine vault challenge', async () => {
    const url = 'https://contoso.vault.azure.net';
    const credential = new CountingCredential();
    const client = new SecretClient(url, credential, { ...secretClientOptions(url), httpClient: challengeClient('https://vault.azure.net'), retryOptions: { maxRetries: 0 } });
    expect((await client.getSecret('s')).value).toBe('v');
    expect(credential.scopes).toEqual([['https://vault.azure.net/.default']]);
  });

  test('the local emulator host (challenge names https://vault.azure.net) works with our options', async () => {
    const url = 'https://127.0.0.1:5444';
    const credential = new CountingCredential();
    const client = new SecretClient(url, credential, { ...secretClientOptions(url), httpClient: challengeClient('https://vault.azure.net'), retryOptions: { maxRetries: 0 } });
    expect((await client.getSecret('s')).value).toBe('v');
  });
});

describe('vault providers', () => {
  const base = { vaultUrl: 'https://contoso.vault.azure.net', managedIdentityClientId: MI };

  test('client secret: current() gives msal clientSecret; renew() is true only when the value changed', async () => {
    const secrets = new Map([['client-secret', { value: 'one~secret' }]]);
    const reader = new FakeReader(secrets);
    let now = 0;
    const provider = vaultClientSecret({ ...base, reader, secretName: 'client-secret', clock: () => now });
    expect(await provider.current()).toEqual({ clientSecret: 'one~secret' });
    expect(await provider.renew()).toBe(false);
    now += 30_000;
    secrets.set('client-secret', { value: 'two~secret' });
    expect(await provider.renew()).toBe(true);
    expect(await provider.current()).toEqual({ clientSecret: 'two~secret' });
    expect(reader.reads).toEqual(['client-secret', 'client-secret', 'client-secret']);
  });

  test('client certificate: current() gives msal clientCertificate { thumbprintSha256, privateKey, x5c }', async () => {
    const ca = ensureTestCa();
    const cert = issueCertificate(ca, { keyType: 'rsa', usage: 'client' });
    const reader = new FakeReader(new Map([['client-certificate', { value: `${cert.key}${cert.cert}${ca.certPem}`, contentType: 'application/x-pem-file' }]]));
    const provider = vaultClientCertificate({ ...base, reader, secretName: 'client-certificate' });
    const credential = await provider.current();
    expect(Object.keys(credential)).toEqual(['clientCertificate']);
    const c = (credential as { clientCertificate: { thumbprintSha256: string; privateKey: string; x5c: string } }).clientCertificate;
    expect(Object.keys(c).sort()).toEqual(['privateKey', 'thumbprintSha256', 'x5c']);
    expect(c.thumbprintSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(c.x5c.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
  });

  test('client certificate stored as PKCS#12: config_invalid naming the setting', async () => {
    const reader = new FakeReader(new Map([['client-certificate', { value: 'MIIKdAIBAzCC', contentType: 'application/x-pkcs12' }]]));
    const provider = vaultClientCertificate({ ...base, reader, secretName: 'client-certificate' });
    await expect(provider.current()).rejects.toMatchObject({
      code: 'config_invalid',
      message: expect.stringMatching(/^Key Vault https:\/\/contoso\.vault\.azure\.net: secret "client-certificate" \(CLIENT_CERTIFICATE_NAME\) is not PEM \(content type application\/x-pkcs12\)/),
    });
  });

  test('key ring: parsed ring, renew() picks up a prepended key', async () => {
    const [k1, k2] = [key(), key()];
    const secrets = new Map([['key-ring', { value: `one:${k1}` }]]);
    const reader = new FakeReader(secrets);
    let now = 0;
    const provider = vaultKeyRing({ ...base, reader, secretName: 'key-ring', clock: () => now });
    expect((await provider.current()).kids).toEqual(['one']);
    now += 60_000;
    secrets.set('key-ring', { value: `two:${k2},one:${k1}` });
    expect(await provider.renew()).toBe(true);
    const ring = await provider.current();
    expect(ring.kids).toEqual(['two', 'one']);
    expect(ring.current.kid).toBe('two');
  });

  test('key ring that does not parse: config_invalid, and the key material is not quoted', async () => {
    const material = key();
    const reader = new FakeReader(new Map([['key-ring', { value: `one:${material},one:${material}` }]]));
    const provider = vaultKeyRing({ ...base, reader, secretName: 'key-ring' });
    let error: unknown;
    try {
      await provider.current();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).message).toBe(
      'Key Vault https://contoso.vault.azure.net: secret "key-ring" (KEY_RING_SECRET_NAME) is not a valid key ring. The key ring is invalid: kid "one" appears more than once. ' +
        'Expected `kid:base64key` entries (keys of at least 32 random bytes) separated by commas, newest first.',
    );
    expect(JSON.stringify(error) + String(error)).not.toContain(material);
  });
});

describe('createSecrets picks the providers', () => {
  const config = (over: Partial<SecretsConfig>): SecretsConfig => ({
    keyVaultUrl: undefined,
    clientCredential: 'secret',
    clientSecretName: 'client-secret',
    clientCertificateName: 'client-certificate',
    keyRingSecretName: 'key-ring',
    managedIdentityClientId: undefined,
    clientSecret: undefined,
    keyRing: undefined,
    cloudInstance: 'https://login.microsoftonline.com/',
    ...over,
  });

  test('no KEY_VAULT_URL: settings (CLIENT_SECRET, KEY_RING)', async () => {
    const secrets = createSecrets(config({ clientSecret: 'local~secret', keyRing: `k:${key()}` }));
    expect(await secrets.credentials.current()).toEqual({ clientSecret: 'local~secret' });
    expect((await secrets.keyRing.current()).kids).toEqual(['k']);
    expect(await secrets.credentials.renew()).toBe(false);
  });

  test('KEY_VAULT_URL + secret: both from the vault, read on first use only', async () => {
    const reader = new FakeReader(new Map([
      ['my-secret', { value: 'vault~secret' }],
      ['my-ring', { value: `v:${key()}` }],
    ]));
    const secrets = createSecrets(config({ keyVaultUrl: 'https://contoso.vault.azure.net', clientSecretName: 'my-secret', keyRingSecretName: 'my-ring' }), { reader });
    expect(reader.reads).toEqual([]);
    expect(await secrets.credentials.current()).toEqual({ clientSecret: 'vault~secret' });
    expect((await secrets.keyRing.current()).kids).toEqual(['v']);
    expect(typeof secrets.keyRing.renew).toBe('function');
    expect(reader.reads).toEqual(['my-secret', 'my-ring']);
  });

  test('KEY_VAULT_URL + certificate: the certificate secret', async () => {
    const ca = ensureTestCa();
    const cert = issueCertificate(ca, { keyType: 'rsa', usage: 'client' });
    const reader = new FakeReader(new Map([['client-certificate', { value: `${cert.key}${cert.cert}`, contentType: 'application/x-pem-file' }]]));
    const secrets = createSecrets(config({ keyVaultUrl: 'https://contoso.vault.azure.net', clientCredential: 'certificate' }), { reader });
    expect(Object.keys(await secrets.credentials.current())).toEqual(['clientCertificate']);
  });

  test('managedIdentity: a client assertion from the identity, for the cloud\'s token-exchange audience', async () => {
    const scopes: string[] = [];
    const assertionCredential: TokenCredential = {
      async getToken(s) {
        scopes.push(...(Array.isArray(s) ? s : [s]));
        return { token: 'mi.assertion.jwt', expiresOnTimestamp: Date.now() + 3600_000 };
      },
    };
    const reader = new FakeReader(new Map([['key-ring', { value: `v:${key()}` }]]));
    const secrets = createSecrets(
      config({ keyVaultUrl: 'https://contoso.vault.usgovcloudapi.net', clientCredential: 'managedIdentity', managedIdentityClientId: MI, cloudInstance: 'https://login.microsoftonline.us/' }),
      { reader, assertionCredential },
    );
    const credential = await secrets.credentials.current();
    if (!('clientAssertion' in credential)) throw new Error('expected a client assertion');
    expect(await credential.clientAssertion({ clientId: 'app' })).toBe('mi.assertion.jwt');
    expect(scopes).toEqual(['api://AzureADTokenExchangeUSGov/.default']);
    expect(reader.reads).toEqual([]); // the key ring is read only when needed
  });

  test('certificate without a vault is refused (loadConfig refuses it first)', () => {
    expect(() => createSecrets(config({ clientCredential: 'certificate', keyRing: `k:${key()}` }))).toThrow(
      'CLIENT_CREDENTIAL=certificate needs KEY_VAULT_URL: the certificate is read from the vault.',
    );
  });

  test('the Config type fits', () => {
    const full = {} as Config;
    const picked: SecretsConfig = full;
    expect(picked).toBe(full);
  });
});

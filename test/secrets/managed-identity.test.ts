/**
 * CLIENT_CREDENTIAL=managedIdentity: the client-assertion callback over a fake TokenCredential.
 * Cached until 5 minutes before expiry, one fetch for concurrent callers, failures mapped and not
 * cached, renew() rate-limited. No network.
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { AppError } from '../../src/errors';
import { managedIdentityAssertion, tokenExchangeAudience } from '../../src/secrets/managed-identity';

const MI = '11111111-2222-4333-8444-555555555555';
const HOUR = 3600_000;

class FakeIdentity implements TokenCredential {
  readonly calls: { scopes: string[]; options: GetTokenOptions | undefined }[] = [];
  next = 1;
  expiresInMs = HOUR;
  failWith: (() => unknown) | undefined;
  gate: Promise<void> | undefined;
  constructor(private readonly clock: () => number) {}
  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    this.calls.push({ scopes: Array.isArray(scopes) ? scopes : [scopes], options });
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith();
    return { token: `assertion-${this.next++}`, expiresOnTimestamp: this.clock() + this.expiresInMs };
  }
}

function setup() {
  let now = Date.UTC(2026, 0, 1);
  const clock = () => now;
  const identity = new FakeIdentity(clock);
  const logs: string[] = [];
  const provider = managedIdentityAssertion({
    credential: identity,
    managedIdentityClientId: MI,
    clock,
    log: { warn: (m) => logs.push(m), error: (m) => logs.push(m) },
  });
  return { identity, provider, logs, advance: (ms: number) => (now += ms) };
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

test('current() is the msal clientAssertion callback; the token is for api://AzureADTokenExchange/.default with a timeout', async () => {
  const { identity, provider } = setup();
  const credential = await provider.current();
  expect(Object.keys(credential)).toEqual(['clientAssertion']);
  if (!('clientAssertion' in credential)) throw new Error('unreachable');
  expect(await credential.clientAssertion({ clientId: 'app' })).toBe('assertion-1');
  expect(identity.calls[0]?.scopes).toEqual(['api://AzureADTokenExchange/.default']);
  expect(identity.calls[0]?.options?.abortSignal).toBeInstanceOf(AbortSignal);
});

test('cached across calls until 5 minutes before it expires', async () => {
  const { identity, provider, advance } = setup();
  expect(await provider.assertion({ clientId: 'app' })).toBe('assertion-1');
  advance(HOUR - 5 * 60_000 - 1);
  expect(await provider.assertion({ clientId: 'app' })).toBe('assertion-1');
  expect(identity.calls).toHaveLength(1);
  advance(1);
  expect(await provider.assertion({ clientId: 'app' })).toBe('assertion-2');
  expect(identity.calls).toHaveLength(2);
});

test('concurrent callers share one fetch', async () => {
  const { identity, provider } = setup();
  let open!: () => void;
  identity.gate = new Promise((resolve) => (open = resolve));
  const all = Promise.all(Array.from({ length: 25 }, () => provider.assertion({ clientId: 'app' })));
  await new Promise((resolve) => setImmediate(resolve));
  open();
  expect(new Set(await all)).toEqual(new Set(['assertion-1']));
  expect(identity.calls).toHaveLength(1);
});

test('a failed refresh keeps using a still-valid assertion (and logs), a failure with nothing usable is thrown and not cached', async () => {
  const { identity, provider, logs, advance } = setup();
  await provider.assertion({ clientId: 'app' });
  advance(HOUR - 4 * 60_000);
  identity.failWith = () => Object.assign(new Error('endpoint down'), { name: 'AuthenticationError', statusCode: 503 });
  expect(await provider.assertion({ clientId: 'app' })).toBe('assertion-1');
  expect(logs[0]).toMatch(/^Managed identity: could not refresh the client assertion; using the one held until it expires\. identity_provider_unavailable: /);
  advance(3 * 60_000 + 1); // under a minute left: no longer handed out
  const error = await caught(provider.assertion({ clientId: 'app' }));
  expect(error).toMatchObject({ code: 'identity_provider_unavailable', status: 503 });
  identity.failWith = undefined;
  expect(await provider.assertion({ clientId: 'app' })).toBe('assertion-2');
});

test('no identity attached, or the endpoint refuses the client id: config_invalid naming AZURE_CLIENT_ID', async () => {
  for (const failure of [
    Object.assign(new Error('no MSI'), { name: 'CredentialUnavailableError' }),
    Object.assign(new Error('identity not found'), { name: 'AuthenticationError', statusCode: 400 }),
  ]) {
    const { identity, provider } = setup();
    identity.failWith = () => failure;
    const error = await caught(provider.assertion({ clientId: 'app' }));
    expect(error).toMatchObject({ code: 'config_invalid', status: 503 });
    expect(error.message).toMatch(
      /^CLIENT_CREDENTIAL=managedIdentity: the app could not get a token for api:\/\/AzureADTokenExchange from the user-assigned managed identity with client id 11111111-2222-4333-8444-555555555555 \(AZURE_CLIENT_ID\): /,
    );
    expect(error.message).toContain('add a federated identity credential for it to the app registration.');
  }
});

test('renew() fetches a fresh assertion, at most every 30 s', async () => {
  const { identity, provider, advance } = setup();
  await provider.assertion({ clientId: 'app' });
  expect(await provider.renew()).toBe(true);
  expect(await provider.assertion({ clientId: 'app' })).toBe('assertion-2');
  advance(10_000);
  expect(await provider.renew()).toBe(false);
  expect(identity.calls).toHaveLength(2);
});

test.each([
  ['https://login.microsoftonline.com/', 'api://AzureADTokenExchange'],
  ['https://127.0.0.1:5443/', 'api://AzureADTokenExchange'],
  ['https://login.microsoftonline.us/', 'api://AzureADTokenExchangeUSGov'],
  ['https://login.chinacloudapi.cn/', 'api://AzureADTokenExchangeChina'],
  ['https://login.partner.microsoftonline.cn/', 'api://AzureADTokenExchangeChina'],
])('token-exchange audience for %s is %s', (cloud, audience) => {
  expect(tokenExchangeAudience(cloud)).toBe(audience);
});

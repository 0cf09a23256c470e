/**
 * CachedSecret against a fake vault reader: read once, single flight, TTL with background refresh,
 * forced refresh with rate limit, backoff after failures (no poisoned promise), error mapping, and
 * no secret value in any error or log line. No network.
 */
import { inspect } from 'node:util';
import { createHttpHeaders, createPipelineRequest, RestError, type PipelineResponse } from '@azure/core-rest-pipeline';
import { AppError } from '../../src/errors';
import { CachedSecret, UnusableSecretError, type CachedSecretOptions, type SecretRead, type SecretReader } from '../../src/secrets/cached-secret';
import type { SecretSite } from '../../src/secrets/vault-errors';

const VAULT = 'https://contoso-bff.vault.azure.net';
const MI = '11111111-2222-4333-8444-555555555555';
const SITE: SecretSite = { vaultUrl: VAULT, secretName: 'client-secret', setting: 'CLIENT_SECRET_NAME', managedIdentityClientId: MI };
const V1 = 'abc8Q~first-secret-value-0123456789abcdefgh';
const V2 = 'xyz8Q~second-secret-value-0123456789abcdefg';

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A vault with versions per name; reads can be held (gate) or made to fail. */
class FakeVault implements SecretReader {
  readonly reads: string[] = [];
  readonly signals: (AbortSignal | undefined)[] = [];
  value: string | undefined;
  version = 1;
  contentType: string | undefined;
  failWith: (() => unknown) | undefined;
  gate: Promise<void> | undefined;

  constructor(value: string | undefined) {
    this.value = value;
  }

  set(value: string): void {
    this.value = value;
    this.version += 1;
  }

  async getSecret(name: string, options?: { abortSignal?: AbortSignal }): Promise<SecretRead> {
    this.reads.push(name);
    this.signals.push(options?.abortSignal);
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith();
    return { value: this.value, properties: { version: `v${this.version}`, contentType: this.contentType } };
  }
}

function restError(statusCode: number, code: string, options: { retryAfter?: string; inner?: string; message?: string } = {}): RestError {
  const headers = createHttpHeaders(options.retryAfter ? { 'retry-after': options.retryAfter } : {});
  const response: PipelineResponse = { status: statusCode, headers, request: createPipelineRequest({ url: `${VAULT}/secrets/client-secret` }) };
  const error = new RestError(options.message ?? `vault says ${code}`, { statusCode, code, response });
  // The shape @azure/keyvault-secrets gives `details` (keyVaultErrorDeserializer: innererror -> innerError).
  error.details = { error: { code, message: options.message ?? '', ...(options.inner ? { innerError: { code: options.inner } } : {}) } };
  return error;
}

function networkError(code = 'ECONNREFUSED'): RestError {
  return new RestError(`connect ${code} 127.0.0.1:1`, { code });
}

class TestClock {
  now = Date.UTC(2026, 0, 1);
  readonly fn = (): number => this.now;
  advance(ms: number): void {
    this.now += ms;
  }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function makeCache(vault: FakeVault, clock: TestClock, extra: Partial<CachedSecretOptions<string>> = {}) {
  const logs: string[] = [];
  const cache = new CachedSecret<string>({
    reader: vault,
    site: SITE,
    parse: ({ value }) => value,
    clock: clock.fn,
    ttlMs: 10 * 60_000,
    minRefreshIntervalMs: 30_000,
    backoff: { initialMs: 1_000, maxMs: 30_000 },
    log: { warn: (m) => logs.push(`warn ${m}`), error: (m) => logs.push(`error ${m}`) },
    ...extra,
  });
  return { cache, logs };
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

/** Everything an error could show: message, JSON, inspect (with its cause chain). */
function everythingShown(error: unknown): string {
  return `${String(error)}\n${JSON.stringify(error)}\n${inspect(error, { depth: 8 })}`;
}

describe('reading once', () => {
  test('the first get reads the vault; later gets are served from memory', async () => {
    const vault = new FakeVault(V1);
    const clock = new TestClock();
    const { cache } = makeCache(vault, clock);
    expect(vault.reads).toEqual([]); // nothing read before first use
    expect(await cache.get()).toBe(V1);
    clock.advance(60_000);
    expect(await cache.get()).toBe(V1);
    expect(await cache.get()).toBe(V1);
    expect(vault.reads).toEqual(['client-secret']);
    expect(cache.version).toBe('v1');
  });

  test('50 concurrent first gets share one read', async () => {
    const vault = new FakeVault(V1);
    const gate = deferred<void>();
    vault.gate = gate.promise;
    const { cache } = makeCache(vault, new TestClock());
    const all = Promise.all(Array.from({ length: 50 }, () => cache.get()));
    await flush();
    gate.resolve();
    expect(new Set(await all)).toEqual(new Set([V1]));
    expect(vault.reads).toHaveLength(1);
  });

  test('each read carries an abort signal (the timeout)', async () => {
    const vault = new FakeVault(V1);
    const { cache } = makeCache(vault, new TestClock(), { timeoutMs: 1234 });
    await cache.get();
    expect(vault.signals[0]).toBeInstanceOf(AbortSignal);
    expect(vault.signals[0]?.aborted).toBe(false);
  });
});

describe('TTL and background refresh', () => {
  test('a stale value is served at once while one background read fetches the newest version', async () => {
    const vault = new FakeVault(V1);
    const clock = new TestClock();
    const { cache } = makeCache(vault, clock);
    await cache.get();
    vault.set(V2);
    clock.advance(10 * 60_000);
    const gate = deferred<void>();
    vault.gate = gate.promise;
    // Stale: still V1 now, and only one background read however many callers.
    expect(await Promise.all([cache.get(), cache.get(), cache.get()])).toEqual([V1, V1, V1]);
    expect(vault.reads).toHaveLength(2);
    gate.resolve();
    await flush();
    expect(await cache.get()).toBe(V2);
    expect(cache.version).toBe('v2');
    expect(cache.stats.backgroundReads).toBe(1);
  });

  test('a failed background refresh keeps the old value and is logged without the value', async () => {
    const vault = new FakeVault(V1);
    const clock = new TestClock();
    const { cache, logs } = makeCache(vault, clock);
    await cache.get();
    clock.advance(11 * 60_000);
    vault.failWith = () => restError(503, 'ServiceUnavailable');
    expect(await cache.get()).toBe(V1);
    await flush();
    expect(await cache.get()).toBe(V1);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^warn Key Vault: could not refresh secret "client-secret"; still using the version held \(read 660 s ago\)\. key_vault_unavailable: /);
    expect(logs.join('\n')).not.toContain(V1);
    // The backoff spaces the background attempts out: none within a second...
    expect(await cache.get()).toBe(V1);
    expect(vault.reads).toHaveLength(2);
    // ...and after it, the vault is back: the newest version replaces the old one.
    vault.failWith = undefined;
    vault.set(V2);
    clock.advance(1_000);
    expect(await cache.get()).toBe(V1);
    await flush();
    expect(await cache.get()).toBe(V2);
  });

  test('a new version that cannot be used keeps the old value', async () => {
    const vault = new FakeVault('kid1:good');
    const clock = new TestClock();
    const logs: string[] = [];
    const cache = new CachedSecret<string>({
      reader: vault,
      site: { ...SITE, secretName: 'key-ring', setting: 'KEY_RING_SECRET_NAME' },
      parse: ({ value }) => {
        if (!value.startsWith('kid')) throw new UnusableSecretError('is not a valid key ring.');
        return value;
      },
      clock: clock.fn,
      log: { warn: (m) => logs.push(m), error: (m) => logs.push(m) },
    });
    expect(await cache.get()).toBe('kid1:good');
    vault.set('garbage-that-is-secret');
    clock.advance(10 * 60_000);
    await cache.get();
    await flush();
    expect(await cache.get()).toBe('kid1:good');
    expect(logs[0]).toContain('config_invalid: Key Vault https://contoso-bff.vault.azure.net: secret "key-ring" (KEY_RING_SECRET_NAME) is not a valid key ring.');
    expect(logs.join('\n')).not.toContain('garbage-that-is-secret');
  });
});

describe('refresh() (renew on invalid_client or an unknown kid)', () => {
  test('reads the newest version and says whether it changed', async () => {
    const vault = new FakeVault(V1);
    const clock = new TestClock();
    const { cache } = makeCache(vault, clock);
    await cache.get();
    vault.set(V2);
    expect(await cache.refresh()).toBe(true);
    expect(await cache.get()).toBe(V2);
    clock.advance(30_000);
    expect(await cache.refresh()).toBe(false); // same value: a retry would not help
    expect(vault.reads).toHaveLength(3);
  });

  test('concurrent refreshes share one read', async () => {
    const vault = new FakeVault(V1);
    const { cache } = makeCache(vault, new TestClock());
    await cache.get();
    vault.set(V2);
    const gate = deferred<void>();
    vault.gate = gate.promise;
    const all = Promise.all(Array.from({ length: 20 }, () => cache.refresh()));
    await flush();
    gate.resolve();
    expect(await all).toEqual(Array.from({ length: 20 }, () => true));
    expect(vault.reads).toHaveLength(2);
  });

  test('rate-limited to one read per 30 s; inside the window it answers true only if the value changed in it', async () => {
    const vault = new FakeVault(V1);
    const clock = new TestClock();
    const { cache } = makeCache(vault, clock);
    await cache.get();
    vault.set(V2);
    expect(await cache.refresh()).toBe(true);
    clock.advance(5_000);
    // A request that failed with the old secret a little later: the value did change, retry is worth it.
    expect(await cache.refresh()).toBe(true);
    expect(vault.reads).toHaveLength(2);
    clock.advance(30_000);
    expect(await cache.refresh()).toBe(false);
    clock.advance(5_000);
    expect(await cache.refresh()).toBe(false); // nothing changed recently, no read
    expect(vault.reads).toHaveLength(3);
  });

  test('a refresh waits for a read already under way, then reads again (the running one may predate the rotation)', async () => {
    const vault = new FakeVault(V1);
    const clock = new TestClock();
    const { cache } = makeCache(vault, clock);
    await cache.get();
    clock.advance(10 * 60_000);
    const gate = deferred<void>();
    vault.gate = gate.promise;
    await cache.get(); // starts a background read, held at the gate
    const refreshed = cache.refresh();
    vault.set(V2);
    gate.resolve();
    expect(await refreshed).toBe(true);
    expect(await cache.get()).toBe(V2);
    expect(vault.reads).toHaveLength(3);
  });

  test('a failed refresh rejects with the mapped error and keeps the held value', async () => {
    const vault = new FakeVault(V1);
    const { cache } = makeCache(vault, new TestClock());
    await cache.get();
    vault.failWith = () => networkError();
    const error = await caught(cache.refresh());
    expect(error.code).toBe('key_vault_unavailable');
    expect(await cache.get()).toBe(V1);
  });
});

describe('failures: 503 with Retry-After, backoff, recovery without restart', () => {
  test('vault down: key_vault_unavailable 503 with Retry-After; fast failures inside the backoff; healthy again after it', async () => {
    const vault = new FakeVault(V1);
    const clock = new TestClock();
    const { cache } = makeCache(vault, clock);
    vault.failWith = () => restError(503, 'ServiceUnavailable');

    const first = await caught(cache.get());
    expect(first).toMatchObject({ code: 'key_vault_unavailable', status: 503, retryAfterSeconds: 1 });
    expect(first.message).toBe(
      'Key Vault https://contoso-bff.vault.azure.net is not answering (status 503) while reading secret "client-secret": the app retries by itself; try again in a few seconds.',
    );
    // Inside the backoff: the same error at once, no vault read.
    clock.advance(500);
    expect(await caught(cache.get())).toMatchObject({ code: 'key_vault_unavailable', retryAfterSeconds: 1 });
    expect(vault.reads).toHaveLength(1);
    // The next attempts back off: 2 s, then 4 s.
    clock.advance(500);
    expect(await caught(cache.get())).toMatchObject({ retryAfterSeconds: 2 });
    clock.advance(2_000);
    expect(await caught(cache.get())).toMatchObject({ retryAfterSeconds: 4 });
    expect(vault.reads).toHaveLength(3);
    // The vault is back: the first request after the backoff succeeds, no restart.
    vault.failWith = undefined;
    clock.advance(4_000);
    expect(await cache.get()).toBe(V1);
    expect(vault.reads).toHaveLength(4);
  });

  test("the vault's own Retry-After is honoured (capped at 60 s)", async () => {
    const vault = new FakeVault(V1);
    const clock = new TestClock();
    const { cache } = makeCache(vault, clock);
    vault.failWith = () => restError(429, 'Throttled', { retryAfter: '17' });
    expect(await caught(cache.get())).toMatchObject({ code: 'key_vault_unavailable', retryAfterSeconds: 17 });
    clock.advance(16_000);
    expect(await caught(cache.get())).toMatchObject({ retryAfterSeconds: 1 });
    expect(vault.reads).toHaveLength(1);
    vault.failWith = () => restError(503, 'ServiceUnavailable', { retryAfter: '3600' });
    clock.advance(1_000);
    expect(await caught(cache.get())).toMatchObject({ retryAfterSeconds: 60 });
  });

  test('concurrent first requests during an outage share one failing read, and nobody keeps the rejected promise', async () => {
    const vault = new FakeVault(V1);
    const clock = new TestClock();
    const { cache } = makeCache(vault, clock);
    vault.failWith = () => networkError('ECONNRESET');
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => cache.get()));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(vault.reads).toHaveLength(1);
    vault.failWith = undefined;
    clock.advance(1_000);
    expect(await cache.get()).toBe(V1);
  });

  test('network errors and timeouts are key_vault_unavailable', async () => {
    for (const [error, reason] of [
      [networkError('ECONNREFUSED'), 'network error ECONNREFUSED'],
      [new RestError('socket hang up', { code: 'REQUEST_SEND_ERROR' }), 'network error REQUEST_SEND_ERROR'],
      [Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' }), 'no answer in time'],
    ] as const) {
      const vault = new FakeVault(V1);
      vault.failWith = () => error;
      const { cache } = makeCache(vault, new TestClock());
      const thrown = await caught(cache.get());
      expect(thrown).toMatchObject({ code: 'key_vault_unavailable', status: 503 });
      expect(thrown.message).toContain(`(${reason})`);
      expect(thrown.cause).toBe(error);
    }
  });

  test('identity endpoint failures: transient ones are key_vault_unavailable, a missing identity is config_invalid', async () => {
    const authError = (statusCode: number) => Object.assign(new Error('ManagedIdentityCredential authentication failed.'), { name: 'AuthenticationError', statusCode });
    const cases: [unknown, string][] = [
      [authError(500), 'key_vault_unavailable'],
      [authError(400), 'config_invalid'],
      [Object.assign(new Error('no credential'), { name: 'CredentialUnavailableError' }), 'config_invalid'],
    ];
    for (const [error, code] of cases) {
      const vault = new FakeVault(V1);
      vault.failWith = () => error;
      const { cache } = makeCache(vault, new TestClock());
      expect(await caught(cache.get())).toMatchObject({ code, status: 503 });
    }
  });
});

describe('configuration errors name the vault, the secret and what to do', () => {
  test('404 SecretNotFound', async () => {
    const vault = new FakeVault(V1);
    vault.failWith = () => restError(404, 'SecretNotFound');
    const { cache } = makeCache(vault, new TestClock());
    const error = await caught(cache.get());
    expect(error).toMatchObject({ code: 'config_invalid', status: 503 });
    expect(error.message).toBe(
      'Key Vault https://contoso-bff.vault.azure.net has no secret "client-secret": add it to the vault, or set CLIENT_SECRET_NAME to the name of the secret that holds it.',
    );
  });

  test('403 Forbidden names the role and the user-assigned identity', async () => {
    const vault = new FakeVault(V1);
    vault.failWith = () => restError(403, 'Forbidden', { inner: 'ForbiddenByRbac' });
    const { cache } = makeCache(vault, new TestClock());
    const error = await caught(cache.get());
    expect(error).toMatchObject({ code: 'config_invalid', status: 503 });
    expect(error.message).toBe(
      'Key Vault https://contoso-bff.vault.azure.net refused to let the app read secret "client-secret" (403 Forbidden): give the user-assigned managed identity ' +
        'with client id 11111111-2222-4333-8444-555555555555 (AZURE_CLIENT_ID) the role "Key Vault Secrets User" on the vault (or, on a vault that uses access policies, ' +
        'a policy allowing Get on secrets). Role assignments take a few minutes to apply; the app retries by itself.',
    );
  });

  test('403 Forbidden without AZURE_CLIENT_ID names the system-assigned identity', async () => {
    const vault = new FakeVault(V1);
    vault.failWith = () => restError(403, 'Forbidden');
    const { cache } = makeCache(vault, new TestClock(), { site: { ...SITE, managedIdentityClientId: undefined } });
    expect((await caught(cache.get())).message).toContain(
      `give the app's system-assigned managed identity (AZURE_CLIENT_ID is not set) the role "Key Vault Secrets User" on the vault`,
    );
  });

  test('a disabled current version', async () => {
    const vault = new FakeVault(V1);
    vault.failWith = () => restError(403, 'Forbidden', { inner: 'SecretDisabled' });
    const { cache } = makeCache(vault, new TestClock());
    expect((await caught(cache.get())).message).toBe(
      'Key Vault https://contoso-bff.vault.azure.net: the current version of secret "client-secret" is disabled: enable it, or add a new enabled version.',
    );
  });

  test('an empty secret', async () => {
    const vault = new FakeVault('');
    const { cache } = makeCache(vault, new TestClock());
    expect(await caught(cache.get())).toMatchObject({
      code: 'config_invalid',
      message: 'Key Vault https://contoso-bff.vault.azure.net: secret "client-secret" (CLIENT_SECRET_NAME) is empty: give it a value.',
    });
  });

  test('a configuration error recovers once fixed (role granted), after the backoff', async () => {
    const vault = new FakeVault(V1);
    const clock = new TestClock();
    vault.failWith = () => restError(403, 'Forbidden');
    const { cache } = makeCache(vault, clock);
    expect(await caught(cache.get())).toMatchObject({ code: 'config_invalid', retryAfterSeconds: 1 });
    vault.failWith = undefined;
    clock.advance(1_000);
    expect(await cache.get()).toBe(V1);
  });
});

describe('no secret value in errors or logs', () => {
  test('parse errors other than UnusableSecretError are reported generically', async () => {
    const vault = new FakeVault(V1);
    const logs: string[] = [];
    const cache = new CachedSecret<string>({
      reader: vault,
      site: SITE,
      parse: ({ value }) => {
        throw new Error(`cannot parse ${value}`); // a careless parser quoting the value
      },
      log: { warn: (m) => logs.push(m), error: (m) => logs.push(m) },
    });
    const error = await caught(cache.get());
    expect(error.message).toBe('Key Vault https://contoso-bff.vault.azure.net: secret "client-secret" (CLIENT_SECRET_NAME) could not be read.');
    expect(everythingShown(error)).not.toContain(V1);
    expect(logs.join('\n')).not.toContain(V1);
  });

  test('no thrown error, log line or stats object carries the value, through every path', async () => {
    const vault = new FakeVault(V1);
    const clock = new TestClock();
    const { cache, logs } = makeCache(vault, clock);
    const shown: string[] = [];
    const capture = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (error) {
        shown.push(everythingShown(error));
      }
    };
    await cache.get();
    clock.advance(11 * 60_000);
    for (const failure of [() => restError(503, 'ServiceUnavailable'), () => restError(403, 'Forbidden'), () => restError(404, 'SecretNotFound'), () => networkError()]) {
      vault.failWith = failure;
      await cache.get();
      await flush();
      clock.advance(60_000);
      await capture(cache.refresh());
      clock.advance(60_000);
    }
    expect(shown.length).toBeGreaterThan(0);
    const everything = [...shown, ...logs, JSON.stringify(cache.stats), inspect(cache, { depth: 5 })].join('\n');
    expect(everything).not.toContain(V1);
    expect(everything).not.toContain('first-secret');
  });
});

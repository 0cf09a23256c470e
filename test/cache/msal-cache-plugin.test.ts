import { randomBytes } from 'node:crypto';
import type { AccountInfo } from '@azure/msal-node';
import { parseCacheJson } from '../../src/cache/cache-json';
import { CacheUnreadableError } from '../../src/cache/errors';
import { MemoryTokenCacheBacking, MemoryTokenCacheStore } from '../../src/cache/memory-token-cache-store';
import { createTokenCachePlugin, type TokenCachePluginOptions } from '../../src/cache/msal-cache-plugin';
import { partitionKeyOf, type TokenCacheStore } from '../../src/cache/token-cache-store';
import { parseKeyRing } from '../../src/crypto/keyring';
import { accessTokenKey, buildCache, newIdentity, refreshTokenKey, type Identity } from './msal-cache-fixture';
import { createApp, offlineNetwork, tokenResponse, type NetworkLog, type TokenEndpoint } from './msal-harness';

const ring = parseKeyRing(`k1:${randomBytes(32).toString('base64')}`);
const DEFAULT_TARGET = 'Mail.Read openid profile offline_access';

describe('MSAL cache plugin with a real ConfidentialClientApplication', () => {
  let backing: MemoryTokenCacheBacking;
  let store: MemoryTokenCacheStore;
  let user: Identity;
  let log: NetworkLog;
  let logger: { warn: jest.Mock; error: jest.Mock };
  let tokenEndpoint: TokenEndpoint;

  beforeEach(() => {
    backing = new MemoryTokenCacheBacking();
    store = new MemoryTokenCacheStore({ keyRing: ring, backing });
    user = newIdentity();
    log = { gets: [], posts: [] };
    logger = { warn: jest.fn(), error: jest.fn() };
    tokenEndpoint = async () => {
      throw new Error('no token request expected');
    };
  });

  const app = (options: Partial<TokenCachePluginOptions> = {}) => {
    const plugin = createTokenCachePlugin({ store, homeAccountId: user.homeAccountId, logger, ...options });
    return { plugin, msal: createApp(plugin, offlineNetwork((body) => tokenEndpoint(body), log)) };
  };

  async function signedIn(spec: Parameters<typeof buildCache>[1] = {}) {
    const built = buildCache(user, spec);
    await store.write(user.homeAccountId, built.json, {});
    store.counters.reads = 0;
    store.counters.writes = 0;
    return built;
  }

  async function account(msal: ReturnType<typeof app>['msal']): Promise<AccountInfo> {
    const accounts = await msal.getTokenCache().getAllAccounts();
    expect(accounts).toHaveLength(1);
    return accounts[0]!;
  }

  it('loads the stored cache: getAllAccounts finds the user with one read and no write', async () => {
    await signedIn();
    const { msal } = app();
    const found = await account(msal);
    expect(found).toMatchObject({ homeAccountId: user.homeAccountId, username: user.username, tenantId: expect.any(String) });
    expect(found.idTokenClaims).toMatchObject({ oid: user.oid });
    expect(store.counters).toMatchObject({ reads: 1, writes: 0 });
  });

  it('serves a still-valid access token from the cache: one read, no write, no network', async () => {
    const { secrets } = await signedIn();
    const { msal } = app();
    const accountInfo = await account(msal);
    store.counters.reads = 0;
    const result = await msal.acquireTokenSilent({ account: accountInfo, scopes: ['Mail.Read'] });
    expect(result.accessToken).toBe(secrets[0]);
    expect(result.fromCache).toBe(true);
    expect(store.counters).toMatchObject({ reads: 1, writes: 0, deletes: 0 });
    expect(log).toEqual({ gets: [], posts: [] });
  });

  it('refreshes an expired access token and writes once: new tokens stored, the old refresh token replaced', async () => {
    const past = Math.floor(Date.now() / 1000) - 7200;
    const { secrets } = await signedIn({ accessTokens: [{ cachedAt: past, expiresOn: past + 3600 }] });
    const response = tokenResponse(user, DEFAULT_TARGET);
    tokenEndpoint = async (body) => {
      expect(body.get('grant_type')).toBe('refresh_token');
      expect(body.get('refresh_token')).toBe(secrets[1]);
      return response;
    };
    const { msal, plugin } = app();
    const result = await msal.acquireTokenSilent({ account: await account(msal), scopes: ['Mail.Read'] });
    expect(result.accessToken).toBe(response.access_token);
    expect(store.counters.writes).toBe(1);
    expect(plugin.lastSave).toMatchObject({ outcome: 'written' });

    const stored = parseCacheJson((await store.read(user.homeAccountId))!.data);
    expect(stored['AccessToken']![accessTokenKey(user, DEFAULT_TARGET)]!['secret']).toBe(response.access_token);
    expect(stored['RefreshToken']![refreshTokenKey(user)]!['secret']).toBe(response.refresh_token);
    expect(JSON.stringify(stored)).not.toContain(secrets[1]!);
  });

  it('merges two concurrent refreshes that read the same version: both new access tokens survive', async () => {
    await signedIn();
    // Slow reads, and a token endpoint that answers only once both requests are waiting, so both
    // requests read the same ETag before either writes.
    const slow: TokenCacheStore = {
      counters: store.counters,
      read: async (id) => {
        const stored = await store.read(id);
        await new Promise((resolve) => setTimeout(resolve, 20)); // the answer is already stale when it arrives
        return stored;
      },
      write: (id, data, options) => store.write(id, data, options),
      version: (id) => store.version(id),
      removePartition: (id, options) => store.removePartition(id, options),
      acquireLease: (id, holder, ttl) => store.acquireLease(id, holder, ttl),
      releaseLease: (lease) => store.releaseLease(lease),
      readLease: (id) => store.readLease(id),
      sweepExpired: (options) => store.sweepExpired(options),
    };
    let arrived = 0;
    let release!: () => void;
    const bothArrived = new Promise<void>((resolve) => (release = resolve));
    tokenEndpoint = async (body) => {
      if (++arrived === 2) release();
      await bothArrived;
      return tokenResponse(user, body.get('scope')!.split(' ').filter((s) => !['openid', 'profile', 'offline_access'].includes(s)).join(' '));
    };
    const a = app({ store: slow });
    const b = app({ store: slow });
    await Promise.all([
      a.msal.acquireTokenSilent({ account: await account(a.msal), scopes: ['User.Read'] }),
      b.msal.acquireTokenSilent({ account: await account(b.msal), scopes: ['Calendars.Read'] }),
    ]);
    expect(store.counters.conflicts).toBeGreaterThanOrEqual(1);
    const stored = parseCacheJson((await store.read(user.homeAccountId))!.data);
    expect(Object.keys(stored['AccessToken']!)).toEqual(
      expect.arrayContaining([accessTokenKey(user, DEFAULT_TARGET), accessTokenKey(user, 'User.Read'), accessTokenKey(user, 'Calendars.Read')]),
    );
  });

  it('deletes the partition when the last account is removed', async () => {
    await signedIn();
    await store.acquireLease(user.homeAccountId, 'someone', 15_000);
    const { msal, plugin } = app();
    await msal.getTokenCache().removeAccount(await account(msal));
    expect(plugin.lastSave).toEqual({ outcome: 'removed' });
    expect(backing.caches.size).toBe(0);
    expect(backing.leases.size).toBe(1); // someone's lease is left to expire
  });

  it('never writes after a failed read, and surfaces storage_unavailable (503) with the cache intact', async () => {
    const { json } = await signedIn();
    const { msal } = app();
    backing.down = true;
    await expect(msal.getTokenCache().getAllAccounts()).rejects.toMatchObject({ code: 'storage_unavailable', status: 503, retryAfterSeconds: 5 });
    await expect(msal.acquireTokenSilent({ account: { homeAccountId: user.homeAccountId, environment: 'login.bff.test', tenantId: '', username: '', localAccountId: user.oid }, scopes: ['Mail.Read'] })).rejects.toMatchObject({ code: 'storage_unavailable' });
    await expect(msal.getTokenCache().removeAccount({ homeAccountId: user.homeAccountId, environment: 'login.bff.test', tenantId: '', username: '', localAccountId: user.oid })).rejects.toMatchObject({ code: 'storage_unavailable' });
    backing.down = false;
    expect(store.counters.writes).toBe(0);
    expect((await store.read(user.homeAccountId))?.data).toBe(json);
    expect(logger.warn).toHaveBeenCalledWith('token cache read failed: storage_unavailable');
  });

  it('reports an unreadable row (logged with its kid), treats the user as signed out, and leaves the row alone', async () => {
    await signedIn();
    const sealedBefore = Buffer.from(backing.caches.get(partitionKeyOf(user.homeAccountId))!.sealed);
    const stranger = new MemoryTokenCacheStore({ keyRing: parseKeyRing(`k9:${randomBytes(32).toString('base64')}`), backing });
    const { msal } = app({ store: stranger });
    const error = await msal.getTokenCache().getAllAccounts().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheUnreadableError);
    expect(error).toMatchObject({ code: 'token_cache_unreadable', status: 401, kid: 'k1' });
    expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining('kid k1'));
    await expect(msal.getTokenCache().removeAccount({ homeAccountId: user.homeAccountId, environment: 'login.bff.test', tenantId: '', username: '', localAccountId: user.oid })).rejects.toBeInstanceOf(CacheUnreadableError);
    expect(stranger.counters.writes).toBe(0);
    expect(backing.caches.get(partitionKeyOf(user.homeAccountId))!.sealed.equals(sealedBefore)).toBe(true);
  });

  it('lets a fresh sign-in replace an unreadable row', async () => {
    await signedIn();
    const newRing = parseKeyRing(`k9:${randomBytes(32).toString('base64')}`);
    const stranger = new MemoryTokenCacheStore({ keyRing: newRing, backing });
    const response = tokenResponse(user, DEFAULT_TARGET);
    tokenEndpoint = async (body) => {
      expect(body.get('grant_type')).toBe('authorization_code');
      return response;
    };
    const { msal, plugin } = app({ store: stranger, mode: 'signIn' });
    const result = await msal.acquireTokenByCode({ code: 'auth-code', scopes: ['Mail.Read'], redirectUri: 'https://app.test/api/callback' });
    expect(result.accessToken).toBe(response.access_token);
    expect(plugin.lastSave).toMatchObject({ outcome: 'written' });
    expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining('kid k1'));
    const stored = parseCacheJson((await stranger.read(user.homeAccountId))!.data);
    expect(stored['RefreshToken']![refreshTokenKey(user)]!['secret']).toBe(response.refresh_token);
  });

  it('does not recreate a partition removed during the request (sign-out elsewhere wins over a late refresh)', async () => {
    const past = Math.floor(Date.now() / 1000) - 7200;
    await signedIn({ accessTokens: [{ cachedAt: past, expiresOn: past + 3600 }] });
    tokenEndpoint = async () => {
      await store.removePartition(user.homeAccountId); // the user signs out while the refresh is in flight
      return tokenResponse(user, DEFAULT_TARGET);
    };
    const { msal } = app();
    await msal.acquireTokenSilent({ account: await account(msal), scopes: ['Mail.Read'] });
    expect(await store.read(user.homeAccountId)).toBeUndefined();
    expect(store.counters.writes).toBe(0);
  });

  it('writes nothing when MSAL flags a change that changes nothing', async () => {
    await signedIn();
    const { msal, plugin } = app();
    await msal.getTokenCache().removeAccount({ ...(await account(msal)), homeAccountId: newIdentity().homeAccountId });
    expect(plugin.lastSave).toEqual({ outcome: 'unchanged' });
    expect(store.counters.writes).toBe(0);
  });

  it('refuses an account id that is not <oid>.<tid>', () => {
    expect(() => createTokenCachePlugin({ store, homeAccountId: 'a/b' })).toThrow(expect.objectContaining({ code: 'token_cache_partition_invalid' }));
  });
});

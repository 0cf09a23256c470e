import { randomBytes } from 'node:crypto';
import { waitForLeaseRelease } from '../../src/cache/lease';
import { MemoryTokenCacheBacking, MemoryTokenCacheStore } from '../../src/cache/memory-token-cache-store';
import { parseKeyRing } from '../../src/crypto/keyring';
import { newIdentity } from './msal-cache-fixture';

describe('waitForLeaseRelease', () => {
  const ring = parseKeyRing(`k1:${randomBytes(32).toString('base64')}`);
  let now: number;
  const clock = () => now;
  const user = newIdentity().homeAccountId;
  let store: MemoryTokenCacheStore;

  beforeEach(() => {
    now = 1_000_000;
    store = new MemoryTokenCacheStore({ keyRing: ring, backing: new MemoryTokenCacheBacking(), clock });
  });

  it('returns at once when there is no lease', async () => {
    expect(await waitForLeaseRelease(store, user, { clock })).toBe('released');
    expect(store.counters.reads).toBe(1);
  });

  it('polls until the holder releases', async () => {
    const lease = await store.acquireLease(user, 'holder', 15_000);
    let polls = 0;
    const result = await waitForLeaseRelease(store, user, {
      clock,
      random: () => 0.5,
      sleep: async (ms) => {
        expect(ms).toBe(100);
        now += ms;
        if (++polls === 3) await store.releaseLease(lease!);
      },
    });
    expect(result).toBe('released');
    expect(polls).toBe(3);
  });

  it('treats an expired lease (a holder that died) as released', async () => {
    await store.acquireLease(user, 'dead', 15_000);
    now += 15_000;
    expect(await waitForLeaseRelease(store, user, { clock })).toBe('released');
  });

  it('gives up after the timeout', async () => {
    await store.acquireLease(user, 'slow', 15_000);
    const result = await waitForLeaseRelease(store, user, {
      clock,
      timeoutMs: 1_000,
      sleep: async (ms) => {
        now += ms;
      },
    });
    expect(result).toBe('timeout');
    expect(now).toBeLessThanOrEqual(1_001_000);
  });
});

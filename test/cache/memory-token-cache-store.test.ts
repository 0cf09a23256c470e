import { MemoryTokenCacheBacking, MemoryTokenCacheStore } from '../../src/cache/memory-token-cache-store';
import { partitionKeyOf } from '../../src/cache/token-cache-store';
import { parseKeyRing } from '../../src/crypto/keyring';
import { runTokenCacheStoreTests } from './store-suite';

runTokenCacheStoreTests('MemoryTokenCacheStore', () => {
  const backing = new MemoryTokenCacheBacking();
  return {
    makeStore: ({ keyRing, clock }) => new MemoryTokenCacheStore({ keyRing, backing, ...(clock ? { clock } : {}) }),
    async corrupt(homeAccountId) {
      const row = backing.caches.get(partitionKeyOf(homeAccountId))!;
      row.sealed[row.sealed.length - 20]! ^= 1;
    },
    async rawDump(homeAccountId) {
      const partition = partitionKeyOf(homeAccountId);
      const row = backing.caches.get(partition);
      const lease = backing.leases.get(partition);
      if (!row && !lease) return '';
      return JSON.stringify({ ...row, sealed: row?.sealed.toString('base64'), sealedText: row?.sealed.toString('utf8'), lease });
    },
  };
});

describe('MemoryTokenCacheStore when "down"', () => {
  it('fails every call with storage_unavailable (503)', async () => {
    const store = new MemoryTokenCacheStore({ keyRing: parseKeyRing(`k1:${Buffer.alloc(32, 1).toString('base64')}`) });
    store.backing.down = true;
    const id = '00000000-0000-0000-0000-000000000001.00000000-0000-0000-0000-000000000002';
    await expect(store.read(id)).rejects.toMatchObject({ code: 'storage_unavailable', status: 503, retryAfterSeconds: 5 });
    await expect(store.write(id, '{}', {})).rejects.toMatchObject({ code: 'storage_unavailable' });
  });
});

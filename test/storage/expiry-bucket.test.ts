/**
 * The expiry index's arithmetic and per-instance memory, without storage: a recording stand-in
 * for the two TableClient calls `note` makes.
 */
import type { TableClient } from '@azure/data-tables';
import { ExpiryIndex, expiryBucketOf } from '../../src/storage/expiry-index';

const DAY = 86_400_000;

function recordingClient(): { client: TableClient; upserts: string[] } {
  const upserts: string[] = [];
  const client = {
    upsertEntity: async (entity: { partitionKey: string; rowKey: string }) => {
      upserts.push(`${entity.partitionKey}/${entity.rowKey}`);
      return {};
    },
  } as unknown as TableClient;
  return { client, upserts };
}

describe('expiryBucketOf', () => {
  it('is the UTC day, fixed width, so days sort as strings', () => {
    expect(expiryBucketOf(Date.UTC(2026, 11, 4, 23, 59, 59, 999))).toBe('20261204');
    expect(expiryBucketOf(Date.UTC(2026, 11, 5))).toBe('20261205');
    expect(expiryBucketOf(Date.UTC(2027, 0, 1)) > expiryBucketOf(Date.UTC(2026, 11, 31))).toBe(true);
  });
});

describe('ExpiryIndex.note', () => {
  const now = Date.UTC(2026, 11, 4, 12);

  it('indexes the expiry\'s day, or today for an expiry already past (never a day the sweep may be reading)', async () => {
    const { client, upserts } = recordingClient();
    const index = new ExpiryIndex({ client, kind: 'cache', clock: () => now });
    await index.note('a.b', now + 91 * DAY);
    await index.note('a.b', now - 3 * DAY);
    expect(upserts).toEqual(['expiry-cache-20270305/a.b', 'expiry-cache-20261204/a.b']);
  });

  it('writes a day once per account and instance, and forgets the oldest beyond its bound', async () => {
    const { client, upserts } = recordingClient();
    const index = new ExpiryIndex({ client, kind: 'session', clock: () => now, memoryEntries: 2 });
    await index.note('a.a', now + DAY);
    await index.note('a.a', now + DAY + 3_600_000);
    expect(upserts).toHaveLength(1);
    expect(index.counters).toEqual({ noted: 1, remembered: 1 });
    await index.note('b.b', now + DAY);
    await index.note('c.c', now + DAY); // a.a is forgotten now
    await index.note('a.a', now + DAY);
    expect(upserts).toEqual(['a.a', 'b.b', 'c.c', 'a.a'].map((p) => `expiry-session-20261205/${p}`));
  });

  it('refuses a kind that could name another kind\'s partitions', () => {
    const { client } = recordingClient();
    expect(() => new ExpiryIndex({ client, kind: 'cache-x' })).toThrow('"kind" must be lower-case letters ("cache-x")');
  });
});

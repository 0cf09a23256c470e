import { randomBytes, randomUUID } from 'node:crypto';
import { RememberingSessionStore } from '../../src/auth/session-memory';
import type { SessionRecord, SessionRef, SessionStore, StoredSession } from '../../src/auth/session-store';

/** The storage side, in a Map, counting what reached it. */
class CountingStore implements SessionStore {
  readonly rows = new Map<string, SessionRecord>();
  gets = 0;
  key = (ref: SessionRef): string => `${ref.homeAccountId.toLowerCase()}/${ref.idHash}`;
  async create(ref: SessionRef, record: SessionRecord): Promise<void> {
    this.rows.set(this.key(ref), record);
  }
  async get(ref: SessionRef): Promise<SessionRecord | undefined> {
    this.gets++;
    return this.rows.get(this.key(ref));
  }
  async touch(ref: SessionRef, lastSeenAt: number, idleExpiresAt: number): Promise<void> {
    const row = this.rows.get(this.key(ref));
    if (row) this.rows.set(this.key(ref), { ...row, lastSeenAt, idleExpiresAt });
  }
  async delete(ref: SessionRef): Promise<void> {
    this.rows.delete(this.key(ref));
  }
  async countLiveForAccount(homeAccountId: string, now: number): Promise<number> {
    return [...this.rows.values()].filter((r) => r.homeAccountId === homeAccountId && r.absoluteExpiresAt > now).length;
  }
  async deleteAllForAccount(homeAccountId: string): Promise<number> {
    const keys = [...this.rows.keys()].filter((k) => k.startsWith(`${homeAccountId.toLowerCase()}/`));
    for (const key of keys) this.rows.delete(key);
    return keys.length;
  }
  async sweepExpired(): Promise<number> {
    return 0;
  }
  exists_ = 0;
  async exists(ref: SessionRef): Promise<boolean> {
    this.exists_++;
    return this.rows.has(this.key(ref));
  }
  async listForAccount(homeAccountId: string): Promise<StoredSession[]> {
    return [...this.rows.entries()]
      .filter(([k]) => k.startsWith(`${homeAccountId.toLowerCase()}/`))
      .map(([k, record]) => ({ ref: { homeAccountId, idHash: k.split('/')[1]! }, record }));
  }
  async findBySid(): Promise<SessionRef[]> {
    return [];
  }
}

function setUp(ttlMs = 30_000, maxEntries = 100, confirmEachUse = true) {
  let now = 1_000_000;
  const clock = Object.assign(() => now, { advance: (ms: number) => void (now += ms) });
  const inner = new CountingStore();
  return { inner, clock, store: new RememberingSessionStore(inner, { ttlMs, maxEntries, clock, confirmEachUse }) };
}

const account = (): string => `${randomUUID()}.${randomUUID()}`;
const ref = (homeAccountId: string): SessionRef => ({ homeAccountId, idHash: randomBytes(32).toString('hex') });
const record = (homeAccountId: string): SessionRecord => ({
  homeAccountId,
  name: 'Adele',
  username: 'adele@contoso.test',
  tenantId: homeAccountId.split('.')[1]!,
  createdAt: 0,
  lastSeenAt: 0,
  idleExpiresAt: 10,
  absoluteExpiresAt: 20,
});

describe('RememberingSessionStore', () => {
  it('serves a session from memory for the TTL, then reads storage again', async () => {
    const { inner, clock, store } = setUp();
    const a = account();
    const device = ref(a);
    await inner.create(device, record(a));
    expect(await store.get(device)).toEqual(record(a));
    clock.advance(29_999);
    expect(await store.get(device)).toEqual(record(a));
    expect(inner.gets).toBe(1);
    clock.advance(1);
    expect(await store.get(device)).toEqual(record(a));
    expect(inner.gets).toBe(2);
    expect(store.stats).toEqual({ hits: 1, misses: 2, endedElsewhere: 0, unconfirmed: 0 });
  });

  it('remembers a session it created, never one it did not find', async () => {
    const { inner, clock, store } = setUp();
    const a = account();
    const device = ref(a);
    expect(await store.get(device)).toBeUndefined();
    await inner.create(device, record(a)); // signed in on another instance meanwhile
    expect(await store.get(device)).toEqual(record(a));
    const fresh = ref(a);
    await store.create(fresh, record(a));
    clock.advance(1000);
    inner.gets = 0;
    expect(await store.get(fresh)).toEqual(record(a));
    expect(inner.gets).toBe(0);
  });

  it('forgets at once what this instance signs out: one device, or every device of an account', async () => {
    const { inner, store } = setUp();
    const a = account();
    const b = account();
    const [laptop, phone, other] = [ref(a), ref(a), ref(b)];
    for (const [r, acc] of [[laptop, a], [phone, a], [other, b]] as const) await store.create(r, record(acc));

    await store.delete(laptop);
    expect(await store.get(laptop)).toBeUndefined();
    expect(await store.get(phone)).toEqual(record(a));

    expect(await store.deleteAllForAccount(a)).toBe(1);
    inner.gets = 0;
    expect(await store.get(phone)).toBeUndefined();
    expect(await store.get(other)).toEqual(record(b));
    expect(inner.gets).toBe(1); // only the signed-out phone went to storage; the other account stayed remembered
  });

  it('a session ended on another instance ends here at once: each use confirms its row with one small read', async () => {
    const { inner, store } = setUp();
    const a = account();
    const device = ref(a);
    await store.create(device, record(a));
    expect(await store.get(device)).toEqual(record(a));
    expect([inner.gets, inner.exists_]).toEqual([0, 1]); // served from memory after an existence check, not a full read
    await inner.delete(device); // another instance signed this device out ("Your devices", front-channel)
    expect(await store.get(device)).toBeUndefined();
    expect(store.stats.endedElsewhere).toBe(1);
    // Forgotten, not remembered as absent: the next get reads storage in full and finds nothing.
    expect(await store.get(device)).toBeUndefined();
    expect(inner.gets).toBe(1);
  });

  it('getUnconfirmed hands out a remembered session with its confirmation under way; false when it ended elsewhere', async () => {
    const { inner, store } = setUp();
    const a = account();
    const device = ref(a);
    await store.create(device, record(a));
    const live = await store.getUnconfirmed(device);
    expect(live?.record).toEqual(record(a));
    expect(await live?.confirmed).toBe(true);
    await inner.delete(device); // ended on another instance
    const ended = await store.getUnconfirmed(device);
    expect(ended?.record).toEqual(record(a)); // handed out before storage answered...
    expect(await ended?.confirmed).toBe(false); // ...and refused once it did
    expect(store.stats.endedElsewhere).toBe(1);
    // Forgotten: the next look reads storage in full, finds nothing, and needs no confirmation.
    expect(await store.getUnconfirmed(device)).toBeUndefined();
    expect([inner.gets, inner.exists_]).toEqual([1, 2]);
  });

  it('serves a remembered session for the rest of its TTL when storage cannot confirm it', async () => {
    const { inner, clock, store } = setUp();
    const a = account();
    const device = ref(a);
    await store.create(device, record(a));
    jest.spyOn(inner, 'exists').mockRejectedValue(new Error('storage down'));
    expect(await store.get(device)).toEqual(record(a));
    expect(store.stats.unconfirmed).toBe(1);
    clock.advance(30_000);
    jest.spyOn(inner, 'get').mockRejectedValueOnce(new Error('storage down'));
    await expect(store.get(device)).rejects.toThrow('storage down');
  });

  it('without the confirmation (confirmEachUse: false) it honours a sign-out made elsewhere once the TTL has passed', async () => {
    const { inner, clock, store } = setUp(5_000, 100, false);
    const a = account();
    const device = ref(a);
    await store.create(device, record(a));
    await inner.delete(device); // another instance signed this device out
    expect(await store.get(device)).toEqual(record(a));
    clock.advance(5_000);
    expect(await store.get(device)).toBeUndefined();
  });

  it('keeps the sliding write in memory too', async () => {
    const { inner, store } = setUp();
    const a = account();
    const device = ref(a);
    await store.create(device, record(a));
    await store.touch(device, 5, 15);
    inner.gets = 0;
    expect(await store.get(device)).toMatchObject({ lastSeenAt: 5, idleExpiresAt: 15 });
    expect(inner.gets).toBe(0);
  });

  it('holds at most maxEntries sessions, least recently used out first', async () => {
    const { inner, store } = setUp(30_000, 2);
    const a = account();
    const [one, two, three] = [ref(a), ref(a), ref(a)];
    for (const r of [one, two]) await store.create(r, record(a));
    await store.get(one); // now two is the least recently used
    await store.create(three, record(a));
    inner.gets = 0;
    await store.get(one);
    await store.get(three);
    expect(inner.gets).toBe(0);
    await store.get(two);
    expect(inner.gets).toBe(1);
  });

  it('remembers nothing with a TTL of 0', async () => {
    const { inner, store } = setUp(0);
    const a = account();
    const device = ref(a);
    await store.create(device, record(a));
    await store.get(device);
    await store.get(device);
    expect(inner.gets).toBe(2);
  });

  it('a read in flight during a sign-out on this instance does not bring the session back', async () => {
    const { inner, store } = setUp();
    const a = account();
    const device = ref(a);
    await inner.create(device, record(a));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const storageGet = inner.get.bind(inner);
    jest.spyOn(inner, 'get').mockImplementationOnce(async (r) => {
      const found = await storageGet(r); // storage still has the row
      await gate;
      return found;
    });
    const reading = store.get(device); // another request of the same user
    await store.delete(device); // sign-out
    release();
    expect(await reading).toBeDefined(); // that request started before the sign-out
    inner.gets = 0;
    expect(await store.get(device)).toBeUndefined();
    expect(inner.gets).toBe(1);
  });

  it('the sliding write does not stretch how long a sign-out elsewhere goes unseen', async () => {
    const { inner, clock, store } = setUp(30_000);
    const a = account();
    const device = ref(a);
    await inner.create(device, record(a));
    await store.get(device);
    await inner.delete(device); // signed out on another instance
    clock.advance(29_000);
    await store.touch(device, 5, 15); // storage ignores a touch of a row that is gone
    clock.advance(1_000);
    expect(await store.get(device)).toBeUndefined();
  });
});

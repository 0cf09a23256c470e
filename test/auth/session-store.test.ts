/**
 * Sessions and the token cache share one partition per account (table `accounts`): the session
 * read brings the cache rows along, and neither store ever deletes the other's rows.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { hashSid } from '../../src/auth/session-row';
import { TableSessionStore, type TokenCacheRowsSink } from '../../src/auth/session-store';
import { MemoryL1 } from '../../src/cache/memory-l1';
import { tokenCacheRowsSink } from '../../src/cache/shared-read';
import { TableTokenCacheStore } from '../../src/cache/table-token-cache-store';
import { partitionKeyOf } from '../../src/cache/token-cache-store';
import { parseKeyRing } from '../../src/crypto/keyring';
import { useAzurite } from '../support/azurite';
import { newAccount, rowKeysOf as rowKeys, sessionRecord as record, sessionRef as ref } from '../support/session-rows';

const azurite = useAzurite();
const ring = parseKeyRing(`k1:${randomBytes(32).toString('base64')}`);
const HOUR = 3_600_000;

async function setUp(options: { withSink?: boolean } = {}) {
  const table = azurite().uniqueTable('acc');
  const client = azurite().tableClient(table);
  await client.createTable();
  const requests: string[] = [];
  client.pipeline.addPolicy({ name: 'record', sendRequest: (request, next) => (requests.push(`${request.method} ${decodeURIComponent(request.url)}`), next(request)) });
  const cache = new TableTokenCacheStore({ client, keyRing: { current: async () => ring } });
  const l1 = new MemoryL1({ maxBytes: 1 << 20, ttlMs: 30_000 });
  const sink = tokenCacheRowsSink(cache, l1);
  const sessions = new TableSessionStore(client, options.withSink === false ? { keyRing: ring } : { keyRing: ring, tokenCacheRows: sink });
  return { client, cache, l1, sessions, requests };
}

describe('TableSessionStore on Azurite', () => {
  it('reads the session and the token cache in one query, and keeps the rows apart', async () => {
    const { client, cache, l1, sessions, requests } = await setUp();
    const account = newAccount();
    const mine = ref(account);
    const otherDevice = ref(account);
    await sessions.create(mine, record(account));
    await sessions.create(otherDevice, record(account));
    const written = await cache.write(account, '{"Account":{}}', {});
    await cache.acquireLease(account, 'holder', 10_000);
    expect(await rowKeys(client, account)).toEqual(['cache', 'lease', `session-${mine.idHash}`, `session-${otherDevice.idHash}`].sort());

    requests.length = 0;
    expect(await sessions.get(mine)).toEqual(record(account, (await sessions.get(mine))!.createdAt));
    // The first get was the shared query; it left the cache in memory, so the second is a point read.
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatch(/^GET .*\$filter=PartitionKey eq '.*' and \(RowKey eq 'session-[0-9a-f]{64}' or \(RowKey ge 'cache' and RowKey lt 'cache\.'\)\)/);
    expect(requests[1]).toMatch(/^GET .*\(PartitionKey='.*',RowKey='session-[0-9a-f]{64}'\)/);
    expect(l1.get(partitionKeyOf(account))).toEqual({ data: '{"Account":{}}', etag: written.etag });
  });

  it('hands the token cache only its own rows: no other session, no lease', async () => {
    const { client, cache, sessions } = await setUp({ withSink: false });
    const account = newAccount();
    const mine = ref(account);
    await sessions.create(mine, record(account));
    await sessions.create(ref(account), record(account));
    await cache.write(account, '{}', {});
    await cache.acquireLease(account, 'holder', 10_000);
    const received: string[][] = [];
    const sink: TokenCacheRowsSink = {
      rowKeyRange: cache.rowKeyRange,
      receiverFor: () => async (rows) => void received.push(rows.map((row) => row.rowKey!)),
    };
    const shared = new TableSessionStore(client, { keyRing: ring, tokenCacheRows: sink });
    expect((await shared.get(mine))?.homeAccountId).toBe(account);
    // A session that does not exist still hands over the cache rows (they are the account's), and reads as signed out.
    expect(await shared.get(ref(account))).toBeUndefined();
    expect(received).toEqual([['cache'], ['cache']]);
  });

  it('reads as signed out when the table does not exist yet', async () => {
    const client = azurite().tableClient(azurite().uniqueTable('none'));
    const l1 = new MemoryL1({ maxBytes: 1 << 20, ttlMs: 30_000 });
    const cache = new TableTokenCacheStore({ client, keyRing: { current: async () => ring } });
    const account = newAccount();
    expect(await new TableSessionStore(client, { keyRing: ring, tokenCacheRows: tokenCacheRowsSink(cache, l1) }).get(ref(account))).toBeUndefined();
    expect(await new TableSessionStore(client, { keyRing: ring }).get(ref(account))).toBeUndefined();
    expect(await cache.read(account)).toBeUndefined();
  });

  it('removing the token cache leaves the sessions; ending the sessions leaves the token cache', async () => {
    const { client, cache, sessions } = await setUp();
    const account = newAccount();
    const devices = [ref(account), ref(account)];
    for (const device of devices) await sessions.create(device, record(account));
    await cache.write(account, '{}', {});
    await cache.acquireLease(account, 'holder', 10_000);

    await cache.removePartition(account);
    expect(await rowKeys(client, account)).toEqual(devices.map((d) => `session-${d.idHash}`).sort());
    expect(await sessions.countLiveForAccount(account, Date.now())).toBe(2);

    await cache.write(account, '{}', {});
    expect(await sessions.deleteAllForAccount(account)).toBe(2);
    expect(await rowKeys(client, account)).toEqual(['cache']);
  });

  it('ends more sessions than one transaction holds', async () => {
    const { client, cache, sessions } = await setUp();
    const account = newAccount();
    await Promise.all(Array.from({ length: 130 }, () => sessions.create(ref(account), record(account))));
    await cache.write(account, '{}', {});
    expect(await sessions.countLiveForAccount(account, Date.now())).toBe(130);
    expect(await sessions.deleteAllForAccount(account)).toBe(130);
    expect(await rowKeys(client, account)).toEqual(['cache']);
  });

  it('counts only sessions before both their idle and absolute expiry, and sweeps only expired sessions', async () => {
    const { client, cache, sessions } = await setUp();
    const account = newAccount();
    const now = Date.now();
    const live = ref(account);
    const idle = ref(account);
    const old = ref(account);
    await sessions.create(live, record(account, now));
    await sessions.create(idle, record(account, now - 20 * 24 * HOUR));
    await sessions.create(old, record(account, now - 100 * 24 * HOUR, { idleExpiresAt: now + HOUR, absoluteExpiresAt: now - HOUR }));
    await cache.write(account, '{}', { expiresAt: now + HOUR });
    expect(await sessions.countLiveForAccount(account, now)).toBe(1);

    // The sweep reads a day once it ended an hour ago (src/storage/expiry-index.ts): two days on.
    expect(await sessions.sweepExpired(now + 2 * 24 * HOUR, 1)).toBe(1);
    expect(await sessions.sweepExpired(now + 2 * 24 * HOUR, 10)).toBe(1);
    expect(await rowKeys(client, account)).toEqual(['cache', `session-${live.idHash}`].sort());
  });

  it('sweeping an expired token cache takes its rows and leaves the sessions (and a live lease until it expires)', async () => {
    const { client, cache, sessions } = await setUp();
    const account = newAccount();
    const device = ref(account);
    await sessions.create(device, record(account));
    await cache.write(account, '{}', { expiresAt: Date.now() - 1000 });
    await cache.acquireLease(account, 'holder', 3 * 24 * HOUR);
    expect(await cache.sweepExpired({ now: Date.now() + 2 * 24 * HOUR, maxRows: 10 })).toEqual({ partitions: 1, rows: 1 });
    expect(await rowKeys(client, account)).toEqual(['lease', `session-${device.idHash}`]);
    expect(await cache.sweepExpired({ now: Date.now() + 5 * 24 * HOUR, maxRows: 10 })).toEqual({ partitions: 0, rows: 1 });
    expect(await rowKeys(client, account)).toEqual([`session-${device.idHash}`]);
  });

  it('touch slides a session, and does nothing for one signed out meanwhile', async () => {
    const { sessions } = await setUp({ withSink: false });
    const account = newAccount();
    const device = ref(account);
    const now = Date.now();
    await sessions.create(device, record(account, now));
    await sessions.touch(device, now + HOUR, now + 15 * 24 * HOUR);
    expect(await sessions.get(device)).toMatchObject({ lastSeenAt: now + HOUR, idleExpiresAt: now + 15 * 24 * HOUR });
    await sessions.delete(device);
    await sessions.delete(device);
    await expect(sessions.touch(device, now + 2 * HOUR, now + 16 * 24 * HOUR)).resolves.toBeUndefined();
    expect(await sessions.get(device)).toBeUndefined();
  });

  it('seals what names a person: the row holds no name, e-mail, logout hint or device label in plain text, and opens only where it was written', async () => {
    const { client, sessions } = await setUp({ withSink: false });
    const account = newAccount();
    const device = ref(account);
    const full = record(account, Date.now(), { logoutHint: 'hint-adele-opaque', device: 'Edge on Windows', sidHash: hashSid('sid-1234567890') });
    await sessions.create(device, full);
    const raw = await client.getEntity<Record<string, unknown>>(partitionKeyOf(account), `session-${device.idHash}`);
    const plain = Object.values(raw).map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : String(v))).join('\n');
    for (const secret of ['Adele', 'adele@contoso.test', 'hint-adele-opaque', 'Edge on Windows', 'sid-1234567890']) expect(plain).not.toContain(secret);
    expect(Object.keys(raw).filter((k) => !['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.metadata'].includes(k)).sort()).toEqual(
      ['absoluteExpiresAt', 'createdAt', 'homeAccountId', 'idleExpiresAt', 'lastSeenAt', 'sealed', 'sidHash', 'tenantId'].sort(),
    );
    expect(await sessions.get(device)).toEqual(full);

    // The sealed value copied into another device's row does not open there: that session reads as signed out.
    const moved = ref(account);
    await client.createEntity({ ...raw, partitionKey: partitionKeyOf(account), rowKey: `session-${moved.idHash}` });
    expect(await sessions.get(moved)).toBeUndefined();
    // Nor under another key ring.
    const otherRing = parseKeyRing(`k2:${randomBytes(32).toString('base64')}`);
    expect(await new TableSessionStore(client, { keyRing: otherRing }).get(device)).toBeUndefined();
  });

  it('still opens a row written before sealing (plain name and username), so an upgrade signs nobody out', async () => {
    const { client, sessions } = await setUp({ withSink: false });
    const account = newAccount();
    const device = ref(account);
    const now = Date.now();
    const legacy = record(account, now, { logoutHint: 'hint' });
    await client.createEntity({
      partitionKey: partitionKeyOf(account),
      rowKey: `session-${device.idHash}`,
      homeAccountId: account,
      name: legacy.name,
      username: legacy.username,
      tenantId: legacy.tenantId,
      logoutHint: 'hint',
      createdAt: new Date(now),
      lastSeenAt: new Date(now),
      idleExpiresAt: new Date(legacy.idleExpiresAt),
      absoluteExpiresAt: new Date(legacy.absoluteExpiresAt),
    });
    expect(await sessions.get(device)).toEqual(legacy);
  });

  it('exists is a point read of the key alone; listForAccount returns every device of the account only', async () => {
    const { sessions, requests } = await setUp({ withSink: false });
    const account = newAccount();
    const [one, two] = [ref(account), ref(account)];
    await sessions.create(one, record(account, Date.now(), { device: 'Chrome on Linux' }));
    await sessions.create(two, record(account));
    await sessions.create(ref(newAccount()), record(newAccount()));
    requests.length = 0;
    expect(await sessions.exists(one)).toBe(true);
    expect(requests[0]).toMatch(/^GET .*\(PartitionKey='.*',RowKey='session-[0-9a-f]{64}'\)\?\$select=RowKey$/);
    expect(await sessions.exists(ref(account))).toBe(false);
    const listed = await sessions.listForAccount(account);
    expect(listed.map((s) => s.ref.idHash).sort()).toEqual([one.idHash, two.idHash].sort());
    expect(listed.find((s) => s.ref.idHash === one.idHash)!.record.device).toBe('Chrome on Linux');
  });

  it('finds the sessions of a sid through its index row; "forget me" deletes the index rows too', async () => {
    const { client, sessions } = await setUp({ withSink: false });
    const account = newAccount();
    const sidHash = hashSid('entra-sid-abcdef');
    const [withSid, without] = [ref(account), ref(account)];
    await sessions.create(withSid, record(account, Date.now(), { sidHash }));
    await sessions.create(without, record(account));
    expect(await sessions.findBySid(sidHash)).toEqual([{ homeAccountId: account, idHash: withSid.idHash }]);
    expect(await sessions.findBySid(hashSid('another'))).toEqual([]);
    expect(await sessions.findBySid("' or 1 eq 1 or '")).toEqual([]);
    const index = await client.getEntity<Record<string, unknown>>(`sid-${sidHash}`, `session-${withSid.idHash}`);
    expect(index['homeAccountId']).toBe(account);

    expect(await sessions.deleteAllForAccount(account)).toBe(2);
    expect(await sessions.findBySid(sidHash)).toEqual([]);
  });

  it('ending one session (a sign-out) deletes its sid index row too; the other session of that sid keeps its own', async () => {
    const { client, sessions } = await setUp({ withSink: false });
    const account = newAccount();
    const sidHash = hashSid(`end-${randomUUID()}`);
    const now = Date.now();
    const first = ref(account);
    const second = ref(account);
    await sessions.create(first, record(account, now, { sidHash }));
    await sessions.create(second, record(account, now, { sidHash }));
    await sessions.delete(first);
    expect(await sessions.findBySid(sidHash)).toEqual([{ homeAccountId: account, idHash: second.idHash }]);
    await sessions.delete(second);
    expect(await sessions.findBySid(sidHash)).toEqual([]);
    await expect(client.getEntity(`sid-${sidHash}`, `session-${second.idHash}`)).rejects.toMatchObject({ statusCode: 404 });
    // Deleting what is gone is quiet.
    await sessions.delete(second);
  });

  it('the session sweep takes an expired sid index row with its session', async () => {
    const { client, sessions } = await setUp({ withSink: false });
    const account = newAccount();
    const sidHash = hashSid(`sweep-${randomUUID()}`);
    const now = Date.now();
    const device = ref(account);
    await sessions.create(device, record(account, now - 100 * 24 * HOUR, { sidHash, absoluteExpiresAt: now - 1000, idleExpiresAt: now - 1000 }));
    // The expiry index is swept a day (and its grace) after the day it notes (expiry-index.ts).
    expect(await sessions.sweepExpired(now + 2 * 24 * HOUR, 1000)).toBeGreaterThanOrEqual(2);
    expect(await sessions.findBySid(sidHash)).toEqual([]);
    expect(await rowKeys(client, account)).toEqual([]);
  });
});

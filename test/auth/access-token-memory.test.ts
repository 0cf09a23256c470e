import { AccessTokenMemory, MSAL_REFRESH_MARGIN_MS } from '../../src/auth/access-token-memory';
import { MsalTokenService } from '../../src/auth/msal-token-service';

function setUp(ttlMs = 30_000, maxEntries = 100) {
  let now = 1_700_000_000_000;
  const clock = Object.assign(() => now, { advance: (ms: number) => void (now += ms) });
  return { clock, memory: new AccessTokenMemory({ ttlMs, maxEntries, clock }) };
}

const ACCOUNT = '00000000-0000-0000-0000-000000000001.00000000-0000-0000-0000-0000000000aa';
const OTHER = '00000000-0000-0000-0000-000000000002.00000000-0000-0000-0000-0000000000aa';
const token = (now: number, lifetimeMs = 3_600_000, accessToken = 'at') => ({ accessToken, expiresOn: new Date(now + lifetimeMs) });

describe('AccessTokenMemory', () => {
  it('serves a token for the TTL, for the same account and scopes in any order or case', () => {
    const { clock, memory } = setUp();
    memory.set(ACCOUNT, ['Mail.Read', 'User.Read'], token(clock()), memory.mark());
    expect(memory.get(ACCOUNT.toUpperCase(), ['user.read', 'Mail.Read'])?.accessToken).toBe('at');
    expect(memory.get(ACCOUNT, ['Mail.Read'])).toBeUndefined();
    expect(memory.get(OTHER, ['Mail.Read', 'User.Read'])).toBeUndefined();
    clock.advance(29_999);
    expect(memory.get(ACCOUNT, ['Mail.Read', 'User.Read'])).toBeDefined();
    clock.advance(1);
    expect(memory.get(ACCOUNT, ['Mail.Read', 'User.Read'])).toBeUndefined();
  });

  it('never serves a token MSAL would refresh: within 5 minutes of expiry, or without an expiry', () => {
    const { clock, memory } = setUp(3_600_000);
    memory.set(ACCOUNT, ['Mail.Read'], token(clock(), MSAL_REFRESH_MARGIN_MS + 1000), memory.mark());
    expect(memory.get(ACCOUNT, ['Mail.Read'])).toBeDefined();
    clock.advance(1000);
    expect(memory.get(ACCOUNT, ['Mail.Read'])).toBeUndefined();
    memory.set(ACCOUNT, ['Mail.Read'], { accessToken: 'at', expiresOn: null }, memory.mark());
    expect(memory.get(ACCOUNT, ['Mail.Read'])).toBeUndefined();
  });

  it('keeps only the access token and its expiry of what it is given', () => {
    const { clock, memory } = setUp();
    memory.set(ACCOUNT, ['Mail.Read'], { ...token(clock()), idToken: 'id-token', account: { username: 'adele' } } as never, memory.mark());
    expect(memory.get(ACCOUNT, ['Mail.Read'])).toEqual(token(clock()));
  });

  it('forgets one account at once, leaving the others', () => {
    const { clock, memory } = setUp();
    memory.set(ACCOUNT, ['Mail.Read'], token(clock()), memory.mark());
    memory.set(ACCOUNT, ['User.Read'], token(clock()), memory.mark());
    memory.set(OTHER, ['Mail.Read'], token(clock()), memory.mark());
    memory.forgetAccount(ACCOUNT.toUpperCase());
    expect(memory.get(ACCOUNT, ['Mail.Read'])).toBeUndefined();
    expect(memory.get(ACCOUNT, ['User.Read'])).toBeUndefined();
    expect(memory.get(OTHER, ['Mail.Read'])).toBeDefined();
  });

  it('holds at most maxEntries tokens, least recently used out first; a TTL of 0 holds none', () => {
    const { clock, memory } = setUp(30_000, 2);
    memory.set(ACCOUNT, ['a'], token(clock()), memory.mark());
    memory.set(ACCOUNT, ['b'], token(clock()), memory.mark());
    memory.get(ACCOUNT, ['a']);
    memory.set(ACCOUNT, ['c'], token(clock()), memory.mark());
    expect([memory.get(ACCOUNT, ['a']), memory.get(ACCOUNT, ['b']), memory.get(ACCOUNT, ['c'])].map(Boolean)).toEqual([true, false, true]);

    const off = setUp(0);
    off.memory.set(ACCOUNT, ['a'], token(off.clock()), off.memory.mark());
    expect(off.memory.get(ACCOUNT, ['a'])).toBeUndefined();
  });

  it('does not keep a token an acquisition brings back after the account was forgotten during it', () => {
    const { clock, memory } = setUp();
    const mark = memory.mark();
    memory.forgetAccount(ACCOUNT.toUpperCase());
    memory.set(ACCOUNT, ['Mail.Read'], token(clock()), mark);
    memory.set(OTHER, ['Mail.Read'], token(clock()), mark);
    expect(memory.get(ACCOUNT, ['Mail.Read'])).toBeUndefined();
    expect(memory.get(OTHER, ['Mail.Read'])).toBeDefined();
  });

  it('through the token service: a sign-out while MSAL is answering leaves nothing remembered', async () => {
    const { clock, memory } = setUp();
    let answer!: (result: unknown) => void;
    const service = new MsalTokenService({
      msal: { create: async () => ({ acquireTokenSilent: () => new Promise((resolve) => (answer = resolve)) }), endSessionEndpoint: async () => '' } as never,
      store: { removePartition: async () => {}, invalidate() {}, counters: {} } as never,
      credentials: {} as never,
      environment: 'login.contoso.test',
      memory,
    });
    const inFlight = service.acquire(ACCOUNT, ['Mail.Read']);
    await new Promise((resolve) => setImmediate(resolve));
    await service.removeAccount(ACCOUNT); // the user's last device signs out
    answer(token(clock()));
    expect((await inFlight).accessToken).toBe('at');
    expect(memory.get(ACCOUNT, ['Mail.Read'])).toBeUndefined();

    const again = service.acquire(ACCOUNT, ['Mail.Read']); // with no sign-out in between, the token is kept
    await new Promise((resolve) => setImmediate(resolve));
    answer(token(clock(), 3_600_000, 'at-2'));
    await again;
    expect(memory.get(ACCOUNT, ['Mail.Read'])?.accessToken).toBe('at-2');
  });
});

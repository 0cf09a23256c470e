import { randomBytes } from 'node:crypto';
import { MsalTokenService } from '../../src/auth/msal-token-service';
import { MemoryTokenCacheBacking, MemoryTokenCacheStore } from '../../src/cache/memory-token-cache-store';
import { parseKeyRing } from '../../src/crypto/keyring';

const ACCOUNT = '00000000-0000-0000-0000-000000000001.00000000-0000-0000-0000-0000000000aa';
const ring = parseKeyRing(`k1:${randomBytes(32).toString('base64')}`);

function setUp() {
  const store = new MemoryTokenCacheStore({ keyRing: ring, backing: new MemoryTokenCacheBacking() });
  const service = new MsalTokenService({ msal: {} as never, store, credentials: {} as never, environment: 'login.contoso.test' });
  return { store, service };
}

describe('MsalTokenService.removeAccount with onlyIf (the last device signs out)', () => {
  it('removes the tokens when the check holds', async () => {
    const { store, service } = setUp();
    await store.write(ACCOUNT, '{"RefreshToken":{"rt1":{}}}', {});
    expect(await service.removeAccount(ACCOUNT, { onlyIf: async () => true })).toBe(true);
    expect(await store.read(ACCOUNT)).toBeUndefined();
  });

  it('keeps them when the check fails (another device is signed in)', async () => {
    const { store, service } = setUp();
    await store.write(ACCOUNT, '{"RefreshToken":{"rt1":{}}}', {});
    expect(await service.removeAccount(ACCOUNT, { onlyIf: async () => false })).toBe(false);
    expect(await store.read(ACCOUNT)).toBeDefined();
  });

  it('still removes them when a refresh of the ended session writes during the check', async () => {
    const { store, service } = setUp();
    const first = await store.write(ACCOUNT, '{"RefreshToken":{"rt1":{}}}', {});
    let checks = 0;
    const removed = await service.removeAccount(ACCOUNT, {
      onlyIf: async () => {
        checks++;
        if (checks === 1) await store.write(ACCOUNT, '{"RefreshToken":{"rt2":{}}}', { etag: first.etag }); // the rotated refresh token lands
        return true; // nobody is signed in any more
      },
    });
    expect(removed).toBe(true);
    expect(checks).toBe(2);
    expect(await store.read(ACCOUNT)).toBeUndefined();
  });

  it('keeps them when a sign-in wrote them: the second check sees its session', async () => {
    const { store, service } = setUp();
    const first = await store.write(ACCOUNT, '{"RefreshToken":{"rt1":{}}}', {});
    let signedIn = false;
    const removed = await service.removeAccount(ACCOUNT, {
      onlyIf: async () => {
        const none = !signedIn;
        if (!signedIn) {
          signedIn = true; // a sign-in creates its session, then saves its tokens
          await store.write(ACCOUNT, '{"RefreshToken":{"rt-phone":{}}}', { etag: first.etag });
        }
        return none;
      },
    });
    expect(removed).toBe(false);
    expect((await store.read(ACCOUNT))?.data).toBe('{"RefreshToken":{"rt-phone":{}}}');
  });
});

import { randomBytes } from 'node:crypto';
import { parseKeyRing } from '../../src/crypto/keyring';
import {
  SEAL_INVALID,
  SEAL_KEY_UNKNOWN,
  SealError,
  createSealer,
  sealBuffer,
  sealString,
  sealedKid,
  unsealBuffer,
  unsealString,
} from '../../src/crypto/seal';

const key = () => randomBytes(32).toString('base64');
const oldKey = `k1:${key()}`;
const ringV1 = parseKeyRing(oldKey);
const ringV2 = parseKeyRing(`k2:${key()},${oldKey}`);
const SECRET = 'refresh-token-0.AXYAsecretvalue';

function sealError(action: () => unknown): SealError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(SealError);
    return error as SealError;
  }
  throw new Error('expected a SealError');
}

describe('string sealing (cookies)', () => {
  it('round-trips, is cookie-safe, names its kid, and uses a fresh IV every time', () => {
    const a = sealString(ringV1, 'cookie:session', SECRET, '__Host-session');
    const b = sealString(ringV1, 'cookie:session', SECRET, '__Host-session');
    expect(a).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('secretvalue');
    expect(sealedKid(a)).toBe('k1');
    expect(unsealString(ringV1, 'cookie:session', a, '__Host-session')).toBe(SECRET);
  });

  it('still opens values sealed with the old key after a new key is prepended, and seals with the new one', () => {
    const old = sealString(ringV1, 'cookie:session', SECRET, 'ctx');
    expect(unsealString(ringV2, 'cookie:session', old, 'ctx')).toBe(SECRET);
    expect(sealedKid(sealString(ringV2, 'cookie:session', SECRET, 'ctx'))).toBe('k2');
  });

  it('refuses an unknown kid with SEAL_KEY_UNKNOWN naming the kid', () => {
    const sealed = sealString(ringV2, 'cookie:session', SECRET, 'ctx');
    const error = sealError(() => unsealString(ringV1, 'cookie:session', sealed, 'ctx'));
    expect(error.code).toBe(SEAL_KEY_UNKNOWN);
    expect(error.kid).toBe('k2');
    expect(error.message).toContain('"k2"');
  });

  it('refuses a tampered value, another context (AAD) and another purpose with SEAL_INVALID, never quoting plaintext', () => {
    const sealed = sealString(ringV1, 'cookie:session', SECRET, '__Host-session');
    const last = sealed.at(-2) === 'A' ? 'B' : 'A';
    const tampered = `${sealed.slice(0, -2)}${last}${sealed.at(-1)}`;
    for (const attempt of [
      () => unsealString(ringV1, 'cookie:session', tampered, '__Host-session'),
      () => unsealString(ringV1, 'cookie:session', sealed, '__Host-txn-abc'),
      () => unsealString(ringV1, 'cookie:txn', sealed, '__Host-session'),
    ]) {
      const error = sealError(attempt);
      expect(error.code).toBe(SEAL_INVALID);
      expect(error.kid).toBe('k1');
      expect(error.message).not.toContain(SECRET);
    }
  });

  it('refuses a value whose kid was swapped for another ring key', () => {
    const sealed = sealString(ringV2, 'cookie:session', SECRET, 'ctx');
    expect(sealError(() => unsealString(ringV2, 'cookie:session', sealed.replace('v1.k2.', 'v1.k1.'), 'ctx')).code).toBe(SEAL_INVALID);
  });

  it.each(['', 'garbage', 'v1.', 'v1.k1', 'v1.k1.abc', 'v2.k1.AAAA.BBBB', 'v1.k1.AA.', 'v1.k 1.AAAAAAAAAAAAAAAA.BBBB', 'v1.k1.AAAAAAAA.BBBB'])(
    'refuses the malformed value %j with SEAL_INVALID',
    (value) => {
      expect(sealError(() => unsealString(ringV1, 'cookie:session', value, 'ctx')).code).toBe(SEAL_INVALID);
    },
  );

  it('offers the sealer shape the login transaction uses', () => {
    const sealer = createSealer(ringV2, 'cookie:txn');
    expect(sealer.unseal(sealer.seal('{"state":"x"}', 'name'), 'name')).toBe('{"state":"x"}');
  });
});

describe('buffer sealing (token cache)', () => {
  const plaintext = Buffer.from(JSON.stringify({ RefreshToken: { k: { secret: SECRET } } }));

  it('round-trips with the binary layout: version, kid, iv, ciphertext and tag', () => {
    const sealed = sealBuffer(ringV2, 'token-cache', plaintext, 'oid.tid');
    expect(sealed[0]).toBe(1);
    expect(sealed[1]).toBe(2);
    expect(sealed.subarray(2, 4).toString()).toBe('k2');
    expect(sealed.length).toBe(2 + 2 + 12 + plaintext.length + 16);
    expect(sealed.includes(Buffer.from('secretvalue'))).toBe(false);
    expect(sealedKid(sealed)).toBe('k2');
    expect(unsealBuffer(ringV2, 'token-cache', sealed, 'oid.tid').equals(plaintext)).toBe(true);
  });

  it('cannot be moved to another partition (AAD) or opened after its key left the ring', () => {
    const sealed = sealBuffer(ringV2, 'token-cache', plaintext, 'oid.tid');
    expect(sealError(() => unsealBuffer(ringV2, 'token-cache', sealed, 'other.tid')).code).toBe(SEAL_INVALID);
    const error = sealError(() => unsealBuffer(ringV1, 'token-cache', sealed, 'oid.tid'));
    expect([error.code, error.kid]).toEqual([SEAL_KEY_UNKNOWN, 'k2']);
  });

  it('detects a flipped bit anywhere and truncation', () => {
    const sealed = sealBuffer(ringV1, 'token-cache', plaintext, 'p');
    for (const offset of [4, 20, sealed.length - 1]) {
      const copy = Buffer.from(sealed);
      copy[offset]! ^= 1;
      expect(sealError(() => unsealBuffer(ringV1, 'token-cache', copy, 'p')).code).toBe(SEAL_INVALID);
    }
    expect(sealError(() => unsealBuffer(ringV1, 'token-cache', sealed.subarray(0, 20), 'p')).code).toBe(SEAL_INVALID);
    expect(sealError(() => unsealBuffer(ringV1, 'token-cache', Buffer.from([9, 9, 9]), 'p')).code).toBe(SEAL_INVALID);
    expect(sealedKid(Buffer.from([9]))).toBeUndefined();
  });
});

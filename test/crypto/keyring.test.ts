import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { KEY_RING_INVALID, KeyRingError, currentRing, parseKeyRing, renewRing } from '../../src/crypto/keyring';

const key = (bytes = 32) => randomBytes(bytes).toString('base64');

function parseError(text: string): KeyRingError {
  try {
    parseKeyRing(text);
  } catch (error) {
    return error as KeyRingError;
  }
  throw new Error('expected parseKeyRing to throw');
}

describe('parseKeyRing', () => {
  it('reads kid:base64key entries, newest first', () => {
    const ring = parseKeyRing(`k2:${key()}, k1:${key()}`);
    expect(ring.current.kid).toBe('k2');
    expect(ring.kids).toEqual(['k2', 'k1']);
    expect(ring.get('k1')?.kid).toBe('k1');
    expect(ring.get('k3')).toBeUndefined();
  });

  it('accepts base64url keys and kids with dots, dashes and underscores', () => {
    const ring = parseKeyRing(`2025-01.a_b:${randomBytes(48).toString('base64url')}`);
    expect(ring.current.kid).toBe('2025-01.a_b');
  });

  it.each([
    ['empty', ''],
    ['no colon', 'abc'],
    ['empty kid', `:${key()}`],
    ['bad kid', `k/1:${key()}`],
    ['not base64', 'k1:not base64!'],
    ['short key', `k1:${key(31)}`],
    ['duplicate kid', `k1:${key()},k1:${key()}`],
  ])('refuses %s with code KEY_RING_INVALID', (_name, text) => {
    const error = parseError(text);
    expect(error).toBeInstanceOf(KeyRingError);
    expect(error.code).toBe(KEY_RING_INVALID);
  });

  it('never quotes key material in its messages', () => {
    const secret = key(31); // too short: rejected, named by kid only
    const error = parseError(`k2:${key()},k1:${secret},k1:${secret}`);
    expect(error.message).toContain('"k1"');
    expect(error.message).not.toContain(secret);
    expect(error.message).not.toContain(secret.slice(0, 12));
  });

  it('reports every problem at once', () => {
    const error = parseError(`bad,k1:${key(8)}`);
    expect(error.message).toContain('entry 1');
    expect(error.message).toContain('"k1"');
  });

  it('derives a distinct 256-bit subkey per purpose and per key, stably', () => {
    const ring = parseKeyRing(`k2:${key()},k1:${key()}`);
    const cache = ring.current.derive('token-cache');
    expect(cache).toHaveLength(32);
    expect(ring.current.derive('token-cache').equals(cache)).toBe(true);
    expect(ring.current.derive('cookie:session').equals(cache)).toBe(false);
    expect(ring.get('k1')!.derive('token-cache').equals(cache)).toBe(false);
  });

  it('keeps key material out of JSON and util.inspect', () => {
    const material = randomBytes(32);
    const ring = parseKeyRing(`k1:${material.toString('base64')}`);
    const dumped = JSON.stringify(ring) + inspect(ring, { depth: 10, showHidden: true });
    expect(dumped).not.toContain(material.toString('base64'));
    expect(dumped).not.toContain(material.toString('hex'));
    expect(dumped).not.toContain(ring.current.derive('token-cache').toString('hex'));
  });
});

describe('key ring sources', () => {
  it('use a ring as is, and ask a provider for its current ring and for renewal', async () => {
    const ring = parseKeyRing(`k1:${key()}`);
    expect(await currentRing(ring)).toBe(ring);
    expect(await renewRing(ring)).toBe(false);
    const provider = { current: async () => ring, renew: jest.fn(async () => true) };
    expect(await currentRing(provider)).toBe(ring);
    expect(await renewRing(provider)).toBe(true);
    expect(await renewRing({ current: async () => ring })).toBe(false);
  });
});

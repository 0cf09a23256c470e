/**
 * The key ring: `kid:base64key` entries separated by commas, newest first. The same text is the
 * KEY_RING setting (local runs) and the Key Vault secret (Azure).
 *
 * - The newest key seals; every key opens. Rotation is "prepend a new key, drop the oldest once
 *   nothing sealed with it is still alive", so nobody is signed out by a rotation.
 * - One ring serves several purposes (the token cache, each cookie): every use derives its own
 *   subkey with HKDF-SHA256 and a purpose label, so a value sealed for one purpose can never be
 *   opened as another, and a weakness in one use does not spill into the others.
 * - Raw key material lives in private fields: it cannot reach a log line through JSON.stringify or
 *   util.inspect, and no error message ever quotes it.
 */
import { hkdfSync } from 'node:crypto';

export const KEY_RING_INVALID = 'KEY_RING_INVALID';

/** Keys shorter than this (after base64 decoding) are refused: AES-256 needs 256 bits of entropy. */
export const MIN_KEY_BYTES = 32;

const KID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+)$/;

/** Purpose labels: the HKDF `info`. Add a label per new use rather than reusing one. */
export type KeyPurpose = 'token-cache' | 'session' | `cookie:${string}`;

export class KeyRingError extends Error {
  readonly code = KEY_RING_INVALID;
  constructor(message: string) {
    super(message);
    this.name = 'KeyRingError';
  }
}

/** One key of the ring. Only subkeys leave it, never the key itself. */
export class RingKey {
  readonly #material: Buffer;
  readonly #derived = new Map<KeyPurpose, Buffer>();

  constructor(
    readonly kid: string,
    material: Buffer,
  ) {
    this.#material = material;
  }

  /** The 256-bit subkey for one purpose (HKDF-SHA256, no salt, info = purpose), cached. */
  derive(purpose: KeyPurpose): Buffer {
    let key = this.#derived.get(purpose);
    if (key === undefined) {
      key = Buffer.from(hkdfSync('sha256', this.#material, Buffer.alloc(0), `entra-bff/${purpose}`, 32));
      this.#derived.set(purpose, key);
    }
    return key;
  }

  toJSON(): { kid: string } {
    return { kid: this.kid };
  }
}

export interface KeyRing {
  /** The newest key: every new seal uses it. */
  readonly current: RingKey;
  /** Key ids, newest first. */
  readonly kids: readonly string[];
  get(kid: string): RingKey | undefined;
}

/**
 * Parses the ring. Every problem is reported by entry position and kid, never with key material,
 * because these messages end up in startup logs.
 */
export function parseKeyRing(text: string): KeyRing {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new KeyRingError('The key ring is empty: set it to `kid:base64key` entries separated by commas, newest first.');
  }
  const keys: RingKey[] = [];
  const byKid = new Map<string, RingKey>();
  const problems: string[] = [];
  text.split(',').forEach((raw, index) => {
    const entry = raw.trim();
    const where = `entry ${index + 1}`;
    const colon = entry.indexOf(':');
    if (colon <= 0) {
      problems.push(`${where} is not \`kid:base64key\``);
      return;
    }
    const kid = entry.slice(0, colon);
    const encoded = entry.slice(colon + 1);
    if (!KID.test(kid)) {
      problems.push(`${where} has an invalid kid (use 1-64 of A-Z a-z 0-9 . _ -)`);
      return;
    }
    if (byKid.has(kid)) {
      problems.push(`kid "${kid}" appears more than once`);
      return;
    }
    if (!BASE64.test(encoded)) {
      problems.push(`the key of kid "${kid}" is not base64`);
      return;
    }
    const material = Buffer.from(encoded, encoded.includes('-') || encoded.includes('_') ? 'base64url' : 'base64');
    if (material.length < MIN_KEY_BYTES) {
      problems.push(`the key of kid "${kid}" is shorter than ${MIN_KEY_BYTES} bytes`);
      return;
    }
    const key = new RingKey(kid, material);
    keys.push(key);
    byKid.set(kid, key);
  });
  if (problems.length > 0) {
    throw new KeyRingError(
      `The key ring is invalid: ${problems.join('; ')}. Expected \`kid:base64key\` entries (keys of at least ${MIN_KEY_BYTES} random bytes) separated by commas, newest first.`,
    );
  }
  const current = keys[0]!;
  return {
    current,
    kids: keys.map((k) => k.kid),
    get: (kid) => byKid.get(kid),
  };
}

/**
 * Where a store gets its ring: a ring, or a provider (Key Vault) that may be asked for a newer
 * one when a value names a kid this instance does not know yet (another instance already has
 * the rotated ring).
 */
export type KeyRingSource = KeyRing | { current(): Promise<KeyRing>; renew?(): Promise<boolean> };

export async function currentRing(source: KeyRingSource): Promise<KeyRing> {
  return 'get' in source ? source : source.current();
}

/** Asks a provider for a newer ring; a fixed ring has none. Resolves true when the ring changed. */
export async function renewRing(source: KeyRingSource): Promise<boolean> {
  if ('get' in source || source.renew === undefined) return false;
  return source.renew();
}

/**
 * The current ring, asked once for a newer one when it does not know `kid`: another instance may
 * already seal with a key this one has not loaded yet. Providers rate-limit renewals
 * (cached-secret.ts), so values naming made-up kids cost the vault little.
 */
export async function ringKnowing(source: KeyRingSource, kid: string): Promise<KeyRing> {
  const ring = await currentRing(source);
  if (ring.get(kid) !== undefined || !(await renewRing(source))) return ring;
  return currentRing(source);
}

/**
 * AES-256-GCM sealing with the key ring.
 *
 * Two encodings of the same construction:
 * - string, for cookies: `v1.<kid>.<iv>.<ciphertext+tag>` (base64url parts; every character is
 *   legal in a cookie value);
 * - Buffer, for the token cache: `0x01 | kid length (1 byte) | kid | iv (12) | ciphertext | tag (16)`.
 *
 * The key is the ring key's subkey for the caller's purpose (see keyring.ts). The GCM additional
 * data is the version and kid followed by the caller's context (a cookie name, a partition key):
 * a value moved to another cookie or another user's row fails authentication instead of opening.
 * The IV is 96 random bits per seal; with one key sealing far fewer than 2^32 values between
 * rotations, the random-IV collision bound stays negligible.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { currentRing, ringKnowing, type KeyPurpose, type KeyRing, type KeyRingSource } from './keyring';

export const SEAL_INVALID = 'SEAL_INVALID';
export const SEAL_KEY_UNKNOWN = 'SEAL_KEY_UNKNOWN';

const VERSION = 1;
const STRING_PREFIX = 'v1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KID = /^[A-Za-z0-9._-]{1,64}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** Never carries plaintext or key material; names the kid so an operator can see which key is missing. */
export class SealError extends Error {
  constructor(
    readonly code: typeof SEAL_INVALID | typeof SEAL_KEY_UNKNOWN,
    message: string,
    readonly kid?: string,
  ) {
    super(message);
    this.name = 'SealError';
  }
}

export function isSealError(error: unknown): error is SealError {
  return error instanceof SealError;
}

function additionalData(kid: string, context: string | Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`v${VERSION}.${kid}\0`, 'utf8'), typeof context === 'string' ? Buffer.from(context, 'utf8') : context]);
}

function encrypt(ring: KeyRing, purpose: KeyPurpose, plaintext: Uint8Array, context: string | Uint8Array) {
  const { kid } = ring.current;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', ring.current.derive(purpose), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(kid, context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { kid, iv, body };
}

function decrypt(ring: KeyRing, purpose: KeyPurpose, kid: string, iv: Buffer, body: Buffer, context: string | Uint8Array): Buffer {
  const key = ring.get(kid);
  if (key === undefined) {
    throw new SealError(SEAL_KEY_UNKNOWN, `The value was sealed with key "${kid}", which is not in the key ring.`, kid);
  }
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES) {
    throw new SealError(SEAL_INVALID, `The value sealed with key "${kid}" is truncated.`, kid);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.derive(purpose), iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(additionalData(kid, context));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
  } catch {
    // Deliberately no cause: OpenSSL's message adds nothing and the catch must not keep buffers alive.
    throw new SealError(SEAL_INVALID, `The value sealed with key "${kid}" failed authentication (tampered, or sealed for another context).`, kid);
  }
}

/** Seals text into a cookie-safe string. */
export function sealString(ring: KeyRing, purpose: KeyPurpose, plaintext: string, context: string): string {
  const { kid, iv, body } = encrypt(ring, purpose, Buffer.from(plaintext, 'utf8'), context);
  return `${STRING_PREFIX}${kid}.${iv.toString('base64url')}.${body.toString('base64url')}`;
}

export function unsealString(ring: KeyRing, purpose: KeyPurpose, sealed: string, context: string): string {
  const { kid, iv, body } = parseSealedString(sealed);
  return decrypt(ring, purpose, kid, iv, body, context).toString('utf8');
}

/** Seals bytes into the binary layout (no base64 inflation: Table Storage stores it as Edm.Binary). */
export function sealBuffer(ring: KeyRing, purpose: KeyPurpose, plaintext: Uint8Array, context: string | Uint8Array): Buffer {
  const { kid, iv, body } = encrypt(ring, purpose, plaintext, context);
  const kidBytes = Buffer.from(kid, 'ascii');
  return Buffer.concat([Buffer.from([VERSION, kidBytes.length]), kidBytes, iv, body]);
}

export function unsealBuffer(ring: KeyRing, purpose: KeyPurpose, sealed: Uint8Array, context: string | Uint8Array): Buffer {
  const { kid, iv, body } = parseSealedBuffer(sealed);
  return decrypt(ring, purpose, kid, iv, body, context);
}

/** The kid a sealed value names, or undefined when it is not a sealed value at all. */
export function sealedKid(sealed: string | Uint8Array): string | undefined {
  try {
    return (typeof sealed === 'string' ? parseSealedString(sealed) : parseSealedBuffer(sealed)).kid;
  } catch {
    return undefined;
  }
}

function parseSealedString(sealed: string): { kid: string; iv: Buffer; body: Buffer } {
  // The kid may itself contain dots, so the two base64url parts are taken from the right.
  if (typeof sealed !== 'string' || !sealed.startsWith(STRING_PREFIX)) throw malformed();
  const last = sealed.lastIndexOf('.');
  const middle = sealed.lastIndexOf('.', last - 1);
  if (middle < STRING_PREFIX.length) throw malformed();
  const kid = sealed.slice(STRING_PREFIX.length, middle);
  const iv = sealed.slice(middle + 1, last);
  const body = sealed.slice(last + 1);
  if (!KID.test(kid)) throw malformed();
  if (!B64URL.test(iv) || !B64URL.test(body)) throw malformed(kid);
  return { kid, iv: Buffer.from(iv, 'base64url'), body: Buffer.from(body, 'base64url') };
}

function parseSealedBuffer(sealed: Uint8Array): { kid: string; iv: Buffer; body: Buffer } {
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (bytes.length < 2 || bytes[0] !== VERSION) throw malformed();
  const kidLength = bytes[1]!;
  const kid = bytes.subarray(2, 2 + kidLength).toString('ascii');
  if (!KID.test(kid) || kid.length !== kidLength) throw malformed();
  const ivStart = 2 + kidLength;
  return { kid, iv: bytes.subarray(ivStart, ivStart + IV_BYTES), body: bytes.subarray(ivStart + IV_BYTES) };
}

function malformed(kid?: string): SealError {
  return new SealError(SEAL_INVALID, kid === undefined ? 'The value is not a sealed value.' : `The value sealed with key "${kid}" is malformed.`, kid);
}

/**
 * A string sealer bound to one purpose, in the shape the login transaction and the session
 * cookie use: `seal(plaintext, context)` / `unseal(sealed, context)`.
 */
export interface StringSealer {
  seal(plaintext: string, context: string): string;
  unseal(sealed: string, context: string): string;
}

/**
 * A sealer over the source's current ring, renewed first (ringKnowing) when one of `sealed` (values
 * about to be opened) names a key this instance does not know yet. A failed renewal leaves the
 * ring as it was, and such a value then fails to open as any unknown one does.
 */
export async function sealerFor(source: KeyRingSource, purpose: KeyPurpose, sealed: Iterable<string> = []): Promise<StringSealer> {
  const ring = await currentRing(source);
  const unknown = [...sealed].map((value) => sealedKid(value)).find((kid) => kid !== undefined && ring.get(kid) === undefined);
  return createSealer(unknown === undefined ? ring : await ringKnowing(source, unknown).catch(() => ring), purpose);
}

export function createSealer(ring: KeyRing, purpose: KeyPurpose): StringSealer {
  return {
    seal: (plaintext, context) => sealString(ring, purpose, plaintext, context),
    unseal: (sealed, context) => unsealString(ring, purpose, sealed, context),
  };
}

/**
 * How a session is laid out in its Table Storage row, and what of it is sealed.
 *
 * Nothing that names a person is stored in plain text: the name, the username (an e-mail address),
 * the logout hint and the device label travel in one AES-256-GCM value (`sealed`, Edm.Binary),
 * sealed with the key ring's `session` subkey and bound to the row's partition and row key, so a
 * sealed value copied into another row does not open. In plain text stay only what queries and
 * the sweep filter on: the account (GUIDs, the partition already names it), the times, and the
 * SHA-256 of the sign-in's `sid` (front-channel sign-out looks sessions up by it; see
 * session-store.ts).
 *
 * Rows written before sealing (plain `name`/`username`/`logoutHint`) still open, so an upgrade
 * signs nobody out; each such row is replaced at its next sign-in and gone at its expiry.
 */
import { createHash } from 'node:crypto';
import { currentRing, ringKnowing, type KeyRingSource } from '../crypto/keyring';
import { isSealError, sealBuffer, sealedKid, unsealBuffer } from '../crypto/seal';

export interface SessionRecord {
  readonly homeAccountId: string;
  readonly name: string;
  readonly username: string;
  readonly tenantId: string;
  /** The ID token's login_hint claim, sent back to Entra at sign-out so it skips the account picker. */
  readonly logoutHint?: string;
  /** A short browser-and-OS label from the User-Agent at sign-in ("Edge on Windows"). */
  readonly device?: string;
  /** SHA-256 (hex) of the ID token's `sid`: front-channel sign-out finds the session by it. */
  readonly sidHash?: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly idleExpiresAt: number;
  readonly absoluteExpiresAt: number;
}

/** The sealed part of a row. */
interface Personal {
  readonly name: string;
  readonly username: string;
  readonly logoutHint?: string;
  readonly device?: string;
}

/** Times are stored as DateTime so the sweep can filter on them server-side. */
export interface SessionEntity {
  partitionKey: string;
  rowKey: string;
  homeAccountId: string;
  tenantId: string;
  sealed?: Uint8Array;
  sidHash?: string;
  /** Only in rows written before sealing. */
  name?: string;
  username?: string;
  logoutHint?: string;
  createdAt: Date;
  lastSeenAt: Date;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
}

export function hashSid(sid: string): string {
  return createHash('sha256').update(`sid\0${sid}`).digest('hex');
}

/** A sid hash as hashSid makes it (hex SHA-256), before it names a partition. */
const SID_HASH = /^[0-9a-f]{64}$/;

/**
 * The partition of a sid's front-channel index rows (`sid-<hashSid(sid)>`, session-store.ts), or
 * undefined when `sidHash` is not a hash hashSid makes.
 */
export function sidIndexPartition(sidHash: unknown): string | undefined {
  return typeof sidHash === 'string' && SID_HASH.test(sidHash) ? `sid-${sidHash}` : undefined;
}

function context(partitionKey: string, rowKey: string): string {
  return `${partitionKey}/${rowKey}`;
}

export async function toEntity(keyRing: KeyRingSource, keys: { partitionKey: string; rowKey: string }, record: SessionRecord): Promise<SessionEntity> {
  const personal: Personal = {
    name: record.name,
    username: record.username,
    ...(record.logoutHint ? { logoutHint: record.logoutHint } : {}),
    ...(record.device ? { device: record.device } : {}),
  };
  const ring = await currentRing(keyRing);
  return {
    ...keys,
    homeAccountId: record.homeAccountId,
    tenantId: record.tenantId,
    sealed: sealBuffer(ring, 'session', Buffer.from(JSON.stringify(personal), 'utf8'), context(keys.partitionKey, keys.rowKey)),
    ...(record.sidHash ? { sidHash: record.sidHash } : {}),
    createdAt: new Date(record.createdAt),
    lastSeenAt: new Date(record.lastSeenAt),
    idleExpiresAt: new Date(record.idleExpiresAt),
    absoluteExpiresAt: new Date(record.absoluteExpiresAt),
  };
}

/**
 * The record a row holds, or undefined when its sealed part does not open (tampered, moved from
 * another row, or sealed with a key no longer in the ring): such a session reads as signed out.
 */
export async function toRecord(keyRing: KeyRingSource, entity: SessionEntity): Promise<SessionRecord | undefined> {
  const personal = entity.sealed === undefined ? legacyPersonal(entity) : await openPersonal(keyRing, entity, entity.sealed);
  if (personal === undefined) return undefined;
  return {
    homeAccountId: entity.homeAccountId,
    tenantId: entity.tenantId,
    name: personal.name,
    username: personal.username,
    ...(personal.logoutHint ? { logoutHint: personal.logoutHint } : {}),
    ...(personal.device ? { device: personal.device } : {}),
    ...(entity.sidHash ? { sidHash: entity.sidHash } : {}),
    createdAt: new Date(entity.createdAt).getTime(),
    lastSeenAt: new Date(entity.lastSeenAt).getTime(),
    idleExpiresAt: new Date(entity.idleExpiresAt).getTime(),
    absoluteExpiresAt: new Date(entity.absoluteExpiresAt).getTime(),
  };
}

async function openPersonal(keyRing: KeyRingSource, entity: SessionEntity, sealed: Uint8Array): Promise<Personal | undefined> {
  const kid = sealedKid(sealed);
  if (kid === undefined) return undefined;
  const ring = await ringKnowing(keyRing, kid);
  try {
    const opened = JSON.parse(unsealBuffer(ring, 'session', sealed, context(entity.partitionKey, entity.rowKey)).toString('utf8')) as Personal;
    return typeof opened.name === 'string' && typeof opened.username === 'string' ? opened : undefined;
  } catch (error) {
    if (isSealError(error) || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

function legacyPersonal(entity: SessionEntity): Personal | undefined {
  if (typeof entity.name !== 'string' || typeof entity.username !== 'string') return undefined;
  return { name: entity.name, username: entity.username, ...(entity.logoutHint ? { logoutHint: entity.logoutHint } : {}) };
}

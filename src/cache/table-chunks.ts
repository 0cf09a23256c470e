/**
 * Laying a sealed cache out in Table Storage, whose limits are 64 KiB per property (Edm.Binary)
 * and 1 MiB per entity: the ciphertext is cut into properties `d0..dN` of CHUNK_BYTES, and into
 * several rows of at most CHUNKS_PER_ROW chunks when it outgrows one row (~660 KiB).
 *
 * The cut is made after sealing, so the GCM tag covers the whole: rows from two different writes
 * can never be stitched into something that opens.
 */

import { isUint8Array } from 'node:util/types';

/** Below the 64 KiB property limit with room to spare. */
export const CHUNK_BYTES = 60 * 1024;
/**
 * 11 x 60 KiB = 660 KiB of data per row. The 1 MiB entity limit is checked against the request's
 * base64 form inside a transaction (Azurite does, and the service's payload limits are in the same
 * units), so 660 KiB (880 KiB as base64) stays below it with room for the other properties.
 */
export const CHUNKS_PER_ROW = 11;

export const HEAD_ROW = 'cache';
const CONTINUATION_PREFIX = 'cache-';
/** Every row of a cache sorts inside [from, to): `cache`, `cache-001`... ('-' < '.'). */
export const CACHE_ROW_RANGE = { from: HEAD_ROW, to: `${HEAD_ROW}.` } as const;

/** Continuation rows sort after the head and before anything else (`cache-001`, `cache-002`, ...). */
export function continuationRowKey(index: number): string {
  return `${CONTINUATION_PREFIX}${String(index).padStart(3, '0')}`;
}

export function isContinuationRowKey(rowKey: string): boolean {
  return /^cache-\d{3}$/.test(rowKey);
}

/** Rows of chunks: rows[0] goes into the head row, the others into continuation rows. */
export function splitIntoRows(sealed: Buffer): Buffer[][] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < sealed.length; offset += CHUNK_BYTES) chunks.push(sealed.subarray(offset, offset + CHUNK_BYTES));
  if (chunks.length === 0) chunks.push(Buffer.alloc(0));
  const rows: Buffer[][] = [];
  for (let i = 0; i < chunks.length; i += CHUNKS_PER_ROW) rows.push(chunks.slice(i, i + CHUNKS_PER_ROW));
  return rows;
}

export function chunkProperties(chunks: readonly Buffer[]): Record<string, Uint8Array> {
  const properties: Record<string, Uint8Array> = {};
  chunks.forEach((chunk, i) => {
    // A copy that owns its whole ArrayBuffer: @azure/data-tables 13 base64-encodes a non-Buffer
    // Uint8Array through `Buffer.from(value.buffer)`, which ignores a view's offset and length.
    properties[`d${i}`] = new Uint8Array(chunk);
  });
  return properties;
}

/** The chunks of one row in order, or undefined when one is missing or not binary. */
export function readChunkProperties(entity: object, count: number): Buffer[] | undefined {
  if (!Number.isInteger(count) || count < 1) return undefined;
  const chunks: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const value: unknown = (entity as Record<string, unknown>)[`d${i}`];
    // Not `instanceof`: the SDK's buffers may come from another realm (jest's sandbox, for one).
    if (!isUint8Array(value)) return undefined;
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return chunks;
}

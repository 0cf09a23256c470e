/**
 * A latency-injecting, counting HTTP proxy in front of Azurite's Table service. Both the app and the
 * baseline reach Table Storage through it (TABLES_CONNECTION_STRING with the proxy's TableEndpoint;
 * SharedKey signatures cover the path, not the host, so they stay valid), so both are delayed and
 * counted the same way:
 *
 * - every request waits `latencyMs` before it is forwarded: one Azure round trip in one region;
 * - requests are counted by table and kind: GET/HEAD = read, POST/PUT/MERGE/PATCH/DELETE = write;
 *   writes refused by a precondition (409/412) are counted as conflicts;
 * - and by what they touch (`byKind`): `session` rows, `tokenCache` rows (the app's cache and
 *   lease, the baseline's row), or `shared` for the app's one query that reads a session and its
 *   token cache together;
 * - writes to token-cache rows (tables `accounts` and `tokencache`, any row but the app's `lease`
 *   and sessions) are checked for
 *   lost updates: a successful write whose writer had read an older version than the row held at
 *   that moment overwrote someone else's write unseen. The version a writer read is known from its
 *   If-Match ETag (the app), or from the `x-bench-read-etag` header the baseline's cache client adds
 *   for this purpose only (it sends no precondition, as in the sample). A write that names no
 *   version at all onto an existing row is counted as a blind overwrite.
 * - `fault` (the soak, bench/soak.ts): every request is answered 503 ServerBusy, held and then cut
 *   (a timeout as the client sees it), or cut at once (a connection reset), instead of forwarded.
 */
import { createServer, request as httpRequest, Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const READ_ETAG_HEADER = 'x-bench-read-etag';
/** The app's table (sessions and token cache per account) and the baseline's token-cache table. */
const TRACKED_TABLES = new Set(['accounts', 'tokencache']);
const LEASE_ROW = 'lease';
const SESSION_ROW_PREFIX = 'session-';

export type RowKind = 'session' | 'tokenCache' | 'shared' | 'other';

export interface TableCounts {
  reads: number;
  writes: number;
  conflicts: number;
}

export interface StorageCounts {
  reads: number;
  writes: number;
  conflicts: number;
  lostUpdates: number;
  blindOverwrites: number;
  byTable: Record<string, TableCounts>;
  byKind: Record<string, TableCounts>;
}

/** What the proxy does instead of forwarding, while set. */
export type StorageFault = '503' | 'timeout' | 'reset';

/** How long a `timeout` fault holds a request before it cuts the connection. */
const TIMEOUT_HOLD_MS = 10_000;

interface RowState {
  version: number;
  exists: boolean;
}

export class StorageProxy {
  latencyMs = 0;
  fault: StorageFault | undefined;
  faultsServed = 0;
  #counts: StorageCounts = emptyCounts();
  readonly #rows = new Map<string, RowState>();
  /** ETag -> the row version it names (token-cache rows only). */
  readonly #etags = new Map<string, number>();
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 256 });
  #server: Server | undefined;
  #target: URL;
  #port = 0;

  constructor(targetEndpoint: string) {
    this.#target = new URL(targetEndpoint);
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
    });
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  /** The proxy's Table endpoint (same account path as Azurite's). */
  get endpoint(): string {
    return `http://127.0.0.1:${this.#port}${this.#target.pathname.replace(/\/$/, '')}`;
  }

  snapshot(): StorageCounts {
    return structuredClone(this.#counts);
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#agent.destroy();
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const method = (req.method ?? 'GET').toUpperCase();
    const read = method === 'GET' || method === 'HEAD';
    const table = tableOf(req.url ?? '/');
    const tableCounts = (this.#counts.byTable[table] ??= { reads: 0, writes: 0, conflicts: 0 });
    const kindCounts = (this.#counts.byKind[kindOf(table, req.url ?? '/', body)] ??= { reads: 0, writes: 0, conflicts: 0 });
    for (const counts of [this.#counts, tableCounts, kindCounts]) {
      if (read) counts.reads++;
      else counts.writes++;
    }
    const row = TRACKED_TABLES.has(table) ? rowOf(req.url ?? '/', method, body) : undefined;
    const tracked = row !== undefined && isTrackedRow(row.slice(row.indexOf('\u0000') + 1)) ? row : undefined;
    // A query (the app's cache reads): the ETags it saw come in the body, not a header.
    const trackedQuery = read && row === undefined && TRACKED_TABLES.has(table);

    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    const fault = this.fault;
    if (fault !== undefined) {
      this.faultsServed++;
      if (fault === '503') {
        const body = JSON.stringify({ 'odata.error': { code: 'ServerBusy', message: { lang: 'en-US', value: 'The server is busy.' } } });
        res.writeHead(503, { 'content-type': 'application/json;odata=minimalmetadata', 'retry-after': '1' });
        res.end(body);
        return;
      }
      if (fault === 'timeout') await new Promise((resolve) => setTimeout(resolve, TIMEOUT_HOLD_MS));
      req.socket.destroy();
      return;
    }

    const headers: Record<string, string | string[] | undefined> = { ...req.headers, host: this.#target.host };
    delete headers[READ_ETAG_HEADER];
    const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
      const outgoing = httpRequest(
        { host: this.#target.hostname, port: this.#target.port, method, path: req.url, headers, agent: this.#agent },
        resolve,
      );
      outgoing.once('error', reject);
      outgoing.end(body);
    });
    const status = upstream.statusCode ?? 502;
    if (!read && (status === 409 || status === 412)) {
      for (const counts of [this.#counts, tableCounts, kindCounts]) counts.conflicts++;
    }
    if (tracked !== undefined) this.#track(tracked, method, status, req, upstream);
    if (trackedQuery && status === 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of upstream) chunks.push(chunk as Buffer);
      const payload = Buffer.concat(chunks);
      this.#trackQueryResult(payload);
      res.writeHead(status, upstream.headers);
      res.end(payload);
      return;
    }
    res.writeHead(status, upstream.headers);
    upstream.pipe(res);
  }

  #trackQueryResult(payload: Buffer): void {
    let rows: { PartitionKey?: unknown; RowKey?: unknown; 'odata.etag'?: unknown }[] = [];
    try {
      rows = (JSON.parse(payload.toString('utf8')) as { value?: typeof rows }).value ?? [];
    } catch {
      return;
    }
    for (const row of rows) {
      const etag = row['odata.etag'];
      if (typeof row.PartitionKey !== 'string' || typeof row.RowKey !== 'string' || typeof etag !== 'string' || !isTrackedRow(row.RowKey)) continue;
      const key = `${row.PartitionKey}\u0000${row.RowKey}`;
      const state = this.#rows.get(key) ?? { version: 0, exists: false };
      this.#rows.set(key, state);
      if (!this.#etags.has(etag)) this.#etags.set(etag, state.version);
    }
  }

  #track(key: string, method: string, status: number, req: IncomingMessage, upstream: IncomingMessage): void {
    const state = this.#rows.get(key) ?? { version: 0, exists: false };
    this.#rows.set(key, state);
    const etag = header(upstream.headers['etag']);
    if (status < 200 || status >= 300) return;
    if (method === 'GET') {
      // A write answered meanwhile already named this ETag's version; keep the first mapping.
      if (etag && !this.#etags.has(etag)) this.#etags.set(etag, state.version);
      return;
    }
    if (method === 'DELETE') {
      state.version++;
      state.exists = false;
      return;
    }
    const ifMatch = header(req.headers['if-match']);
    const readEtag = ifMatch && ifMatch !== '*' ? ifMatch : header(req.headers[READ_ETAG_HEADER]);
    const base = readEtag !== undefined ? this.#etags.get(readEtag) : undefined;
    if (base !== undefined) {
      if (base < state.version) this.#counts.lostUpdates++;
    } else if (method !== 'POST' && state.exists) {
      // POST is an insert: it succeeds only where there was no row, so it cannot overwrite anything.
      this.#counts.blindOverwrites++;
    }
    state.version++;
    state.exists = true;
    if (etag) this.#etags.set(etag, state.version);
  }
}

export function emptyCounts(): StorageCounts {
  return { reads: 0, writes: 0, conflicts: 0, lostUpdates: 0, blindOverwrites: 0, byTable: {}, byKind: {} };
}

/** b - a, field by field. */
export function diffCounts(a: StorageCounts, b: StorageCounts): StorageCounts {
  const diff = (x: Record<string, TableCounts>, y: Record<string, TableCounts>): Record<string, TableCounts> => {
    const out: Record<string, TableCounts> = {};
    for (const key of new Set([...Object.keys(x), ...Object.keys(y)])) {
      const before = x[key] ?? { reads: 0, writes: 0, conflicts: 0 };
      const after = y[key] ?? { reads: 0, writes: 0, conflicts: 0 };
      out[key] = { reads: after.reads - before.reads, writes: after.writes - before.writes, conflicts: after.conflicts - before.conflicts };
    }
    return out;
  };
  return {
    reads: b.reads - a.reads,
    writes: b.writes - a.writes,
    conflicts: b.conflicts - a.conflicts,
    lostUpdates: b.lostUpdates - a.lostUpdates,
    blindOverwrites: b.blindOverwrites - a.blindOverwrites,
    byTable: diff(a.byTable, b.byTable),
    byKind: diff(a.byKind, b.byKind),
  };
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `/devstoreaccount1/tokencache(PartitionKey='a',RowKey='b')?...` -> `tokencache`; `$batch`, `Tables` as they are. */
function tableOf(url: string): string {
  const path = url.split('?')[0] ?? '';
  const segment = path.split('/').filter(Boolean)[1] ?? '';
  return decodeURIComponent(segment.replace(/\(.*$/, '')) || '(none)';
}

/** The row a single-entity request addresses, as `pk\0rk`; undefined for queries and batches. */
function rowOf(url: string, method: string, body: Buffer): string | undefined {
  const path = decodeURIComponent(url.split('?')[0] ?? '');
  const keys = /\(PartitionKey='((?:[^']|'')*)',\s*RowKey='((?:[^']|'')*)'\)$/.exec(path);
  if (keys) return `${keys[1]!.replace(/''/g, "'")}\u0000${keys[2]!.replace(/''/g, "'")}`;
  if (method === 'POST' && /\/(accounts|tokencache)\/?$/.test(path)) {
    try {
      const entity = JSON.parse(body.toString('utf8')) as { PartitionKey?: unknown; RowKey?: unknown };
      if (typeof entity.PartitionKey === 'string' && typeof entity.RowKey === 'string') return `${entity.PartitionKey}\u0000${entity.RowKey}`;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function isTrackedRow(rowKey: string): boolean {
  return rowKey !== LEASE_ROW && !rowKey.startsWith(SESSION_ROW_PREFIX);
}

/** What a request touches, from its path, its $filter or its body (inserts and batches). */
function kindOf(table: string, url: string, body: Buffer): RowKind {
  if (table === 'tokencache') return 'tokenCache';
  const text = decodeURIComponent(url) + (body.length > 0 && body.length < 64 * 1024 ? body.toString('utf8') : '');
  if (table !== 'accounts' && !(table === '$batch' && /\/accounts\(/.test(text))) return table === '$batch' && /\/tokencache\(/.test(text) ? 'tokenCache' : 'other';
  const session = text.includes(SESSION_ROW_PREFIX);
  const cache = /'cache|'lease'|"RowKey":"(?:cache|lease)/.test(text);
  return session && cache ? 'shared' : session ? 'session' : cache ? 'tokenCache' : 'other';
}

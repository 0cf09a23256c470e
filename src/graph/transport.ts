/**
 * How the Graph client talks HTTP. The default is Node's own http/https client over one bounded
 * keep-alive pool per process; a `fetch` can be given instead (tests answer with `Response`s).
 *
 * Why not global fetch by default: undici's fetch builds WHATWG Request/Response/Headers objects and
 * web streams for every call, and much of that outlives a V8 scavenge while the call waits for
 * Graph, so it is promoted and the old generation grows. A process making the same GETs through
 * fetch settles at roughly twice the resident memory of one using http.request (measured: 5,000
 * GETs at concurrency 64, 128 MB vs 70 MB RSS). The pool here is bounded (`maxSockets`, idle
 * sockets closed after `idleTimeoutMs`), responses are read into one buffer with a size cap, and
 * nothing is compressed (Accept-Encoding: identity), so no zlib state is kept per call.
 *
 * TLS is Node's default: certificates are always checked against the system store (plus
 * NODE_EXTRA_CA_CERTS). Redirects are not followed: Graph does not redirect these calls, and a
 * bearer token must not be replayed to wherever a redirect points.
 */
import http from 'node:http';
import https from 'node:https';

/** One answer from Graph, whichever transport fetched it. */
export interface GraphAnswer {
  readonly status: number;
  /** A response header (case-insensitive), or null. */
  header(name: string): string | null;
  /** The body parsed as JSON; rejects on a cut, oversized or garbled body. */
  json(): Promise<unknown>;
  /** Drops the body unread (the connection stays reusable where it can). */
  discard(): Promise<void>;
}

/** GET `url`; rejects on a connection failure or when the whole exchange takes over `timeoutMs`. */
export type GraphTransport = (url: URL, headers: Readonly<Record<string, string>>, timeoutMs: number) => Promise<GraphAnswer>;

export class TransportTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`No complete answer within ${timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

export interface NodeTransportOptions {
  /** Connections per origin, busy and idle together; further requests wait for one. */
  readonly maxSockets?: number;
  /** An idle keep-alive connection is closed after this long (below Graph's own idle timeout). */
  readonly idleTimeoutMs?: number;
  /** Larger bodies are refused as garbled (a page of 50 messages is a few dozen KiB). */
  readonly maxBodyBytes?: number;
}

export const DEFAULT_MAX_SOCKETS = 64;
export const DEFAULT_IDLE_TIMEOUT_MS = 4_000;
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Node's http/https client over one keep-alive pool per scheme. */
export function nodeTransport(options: NodeTransportOptions = {}): GraphTransport {
  const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const agentOptions = {
    keepAlive: true,
    maxSockets,
    maxFreeSockets: maxSockets,
    // Most recently used first: under light load a few warm connections serve everything and the
    // rest reach the idle timeout and close.
    scheduling: 'lifo' as const,
    // Applies to idle sockets in the pool (Node destroys a free socket on timeout); a request in
    // progress is bounded by the caller's timeout below.
    timeout: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
  };
  const agents = { 'https:': new https.Agent(agentOptions), 'http:': new http.Agent(agentOptions) };

  return (url, headers, timeoutMs) =>
    new Promise<GraphAnswer>((resolve, reject) => {
      const secure = url.protocol === 'https:';
      if (!secure && url.protocol !== 'http:') return reject(new Error(`unsupported protocol ${url.protocol}`));
      let settled = false;
      let failBody: ((error: Error) => void) | undefined;
      const fail = (error: Error): void => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          reject(error);
        } else failBody?.(error);
      };
      const request = (secure ? https : http).request(url, {
        method: 'GET',
        headers: { ...headers, 'Accept-Encoding': 'identity' },
        agent: agents[secure ? 'https:' : 'http:'],
      });
      const timer = setTimeout(() => request.destroy(new TransportTimeoutError(timeoutMs)), timeoutMs);
      // Stays for the request's whole life: a socket error after the headers must not go unheard.
      request.on('error', fail);
      request.once('response', (response) => {
        settled = true;
        // The body is read at once, whatever the status: every answer is either parsed or dropped,
        // and reading it to the end is what lets the connection go back to the pool.
        const body = new Promise<Buffer>((resolveBody, rejectBody) => {
          failBody = rejectBody;
          const declared = Number(response.headers['content-length'] ?? 0);
          if (declared > maxBodyBytes) {
            request.destroy(new Error(`body of ${declared} bytes is over the ${maxBodyBytes}-byte limit`));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBodyBytes) request.destroy(new Error(`body over the ${maxBodyBytes}-byte limit`));
            else chunks.push(chunk);
          });
          response.once('end', () => {
            clearTimeout(timer);
            resolveBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
          });
          response.on('error', fail);
          response.once('close', () => {
            if (!response.complete) fail(new Error('the answer was cut off'));
          });
        });
        body.catch(() => {}); // reported to whoever reads it
        resolve({
          status: response.statusCode ?? 0,
          header: (name) => {
            const value = response.headers[name.toLowerCase()];
            return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
          },
          json: async () => {
            const bytes = await body;
            const encoding = response.headers['content-encoding'];
            if (encoding !== undefined && encoding !== 'identity') throw new Error(`unexpected content-encoding ${encoding}`);
            return JSON.parse(bytes.toString('utf8')) as unknown;
          },
          discard: async () => {
            await body.catch(() => undefined);
          },
        });
      });
      request.end();
    });
}

/** A transport over a fetch implementation (tests answer with `Response`s). */
export function fetchTransport(fetchImpl: typeof fetch): GraphTransport {
  return async (url, headers, timeoutMs) => {
    const response = await fetchImpl(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    return {
      status: response.status,
      header: (name) => response.headers.get(name),
      json: () => response.json() as Promise<unknown>,
      discard: async () => {
        await response.body?.cancel();
      },
    };
  };
}

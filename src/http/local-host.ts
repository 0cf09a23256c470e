/**
 * A small stand-in for the Azure Functions host, for `npm start`, `npm run serve` and the tests.
 * It serves the same route table the Functions registration uses, building the same
 * `HttpRequest` / `InvocationContext` objects from `@azure/functions`, so handlers cannot tell the
 * two apart. Where the Functions host answers on its own (unknown route, wrong method, body too
 * large), this host answers the same way, with the JSON error shape the app uses.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpRequest, HttpResponse, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { serializeCookie } from './cookies';
import { json } from './responses';
import type { Route } from './route';

/** The body limit the app accepts: forms and JSON here are small; anything larger is refused. */
export const MAX_BODY_BYTES = 1024 * 1024;

export type LogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';
export type LogSink = (level: LogLevel, functionName: string, message: string) => void;

export interface LocalHostOptions {
  readonly routes: readonly Route[];
  readonly port?: number;
  readonly host?: string;
  readonly log?: LogSink;
  /**
   * Headers on every answer of this host that the route did not set itself, including the host's
   * own answers (unknown route, wrong method, body too large, bad request): Strict-Transport-Security.
   */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface LocalHost {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  stop(): Promise<void>;
}

export const consoleLogSink: LogSink = (level, functionName, message) => {
  const line = `[${new Date().toISOString()}] ${level} ${functionName}: ${message}`;
  if (level === 'error' || level === 'critical' || level === 'warning') console.error(line);
  else console.log(line);
};

export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const log = options.log ?? consoleLogSink;
  const server = createServer((req, res) => {
    serve(options.routes, log, options.headers ?? {}, req, res).catch((error: unknown) => {
      log('error', 'local-host', `could not write the response: ${(error as Error).name}`);
      res.destroy();
    });
  });
  // Keep-alive sockets would hold stop() open until they time out.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 7071, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${options.host === '0.0.0.0' ? 'localhost' : (options.host ?? '127.0.0.1')}:${port}`,
    port,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A Host header: a name or an IPv4/IPv6 literal, and an optional port. Nothing else (no userinfo, no spaces). */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/**
 * The request's URL, or undefined when its target or Host header is malformed. Only the origin
 * form (`/path?query`) is served: a target starting `//` would otherwise be read as
 * `//host/path`, a path segment taken for a host (`//x/api/logout` routed as /api/logout), and an
 * absolute or `*` target is for proxies. The Host header is checked before it goes near `new URL`.
 */
function requestUrl(req: IncomingMessage): URL | undefined {
  const target = req.url ?? '/';
  const host = req.headers.host ?? 'localhost';
  if (!target.startsWith('/') || target.startsWith('//') || !HOST.test(host)) return undefined;
  try {
    const url = new URL(`http://${host}${target}`);
    return url.host === host.toLowerCase() ? url : undefined;
  } catch {
    return undefined;
  }
}

async function serve(routes: readonly Route[], log: LogSink, extra: Readonly<Record<string, string>>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const write = (init: HttpResponseInit, options?: { close?: boolean }) => writeResponse(res, init, extra, options);
  const url = requestUrl(req);
  if (url === undefined) {
    req.resume();
    return write(json(400, { error: 'bad_request', message: 'The request target or its Host header is malformed. Send a path starting with a single / and a valid Host.' }), { close: true });
  }
  const method = (req.method ?? 'GET').toUpperCase();
  const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
  const candidates = routes.filter((r) => routeParams(r.path, path) !== undefined);

  if (candidates.length === 0) {
    req.resume();
    return write(json(404, { error: 'not_found', message: `No endpoint at ${path}.` }));
  }
  const route = candidates.find((r) => r.methods.includes(method as never));
  if (!route) {
    req.resume();
    const allow = [...new Set(candidates.flatMap((r) => r.methods))].join(', ');
    return write(json(405, { error: 'method_not_allowed', message: `${method} is not allowed here; use ${allow}.` }, { headers: { Allow: allow } }));
  }

  const body = await readBody(req);
  if (body === 'too-large') {
    return write(json(413, { error: 'payload_too_large', message: `The request body is larger than ${MAX_BODY_BYTES} bytes.` }), { close: true });
  }

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : value;
  }
  const request = new HttpRequest({
    method,
    url: url.href,
    headers,
    query: Object.fromEntries(url.searchParams),
    params: routeParams(route.path, path) ?? {},
    ...(body.length > 0 ? { body: { bytes: body } } : {}),
  });
  const context = new InvocationContext({
    invocationId: randomUUID(),
    functionName: route.name,
    logHandler: (level, ...args) => log(level as LogLevel, route.name, args.map(formatLogArg).join(' ')),
  });

  let result: HttpResponseInit;
  try {
    result = await route.handler(request, context);
  } catch (error) {
    // The Functions host turns an unhandled exception into a bare 500; handlers wrap their own
    // errors, so reaching this is a bug. No stack trace goes to the client.
    context.error(`unhandled: ${(error as Error)?.name ?? typeof error}`);
    result = json(500, { error: 'internal_error', message: 'Something went wrong on our side. Try again in a moment.' });
  }
  await write(result);
}

/**
 * The route's parameters when `path` matches its template (`/api/sessions/{id}/end`), as the
 * Functions host fills `request.params`; undefined when it does not match. Literal segments match
 * case-insensitively, a `{name}` segment any one non-empty segment.
 */
export function routeParams(template: string, path: string): Record<string, string> | undefined {
  const want = template.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const segment = want[i]!;
    const name = /^\{(\w+)\}$/.exec(segment)?.[1];
    if (name === undefined) {
      if (segment.toLowerCase() !== got[i]!.toLowerCase()) return undefined;
    } else {
      if (got[i] === '') return undefined;
      try {
        params[name] = decodeURIComponent(got[i]!);
      } catch {
        return undefined;
      }
    }
  }
  return params;
}

function formatLogArg(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (arg instanceof Error) return `${arg.name}: ${arg.message}`;
  try {
    return JSON.stringify(arg);
  } catch {
    return String(arg);
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    return 'too-large';
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      req.resume();
      return 'too-large';
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function writeResponse(res: ServerResponse, init: HttpResponseInit, extra: Readonly<Record<string, string>>, options: { close?: boolean } = {}): Promise<void> {
  const response = new HttpResponse(init);
  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    if (name.toLowerCase() !== 'set-cookie') res.setHeader(name, value);
  });
  for (const [name, value] of Object.entries(extra)) if (!res.hasHeader(name)) res.setHeader(name, value);
  const setCookies = [...(response.headers.getSetCookie?.() ?? []), ...response.cookies.map(serializeCookie)];
  if (setCookies.length > 0) res.setHeader('Set-Cookie', setCookies);
  if (options.close) res.setHeader('Connection', 'close');
  const body = Buffer.from(await response.arrayBuffer());
  if (body.length > 0 && !res.hasHeader('content-type')) res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  res.end(body);
}

/**
 * A Microsoft Graph stand-in for local runs and tests: `GET /v1.0/me` and `GET /v1.0/me/messages`
 * with the OData subset the app uses, bearer tokens verified like Graph does (RS256 signature
 * against the emulated Entra's JWKS, issuer, audience, lifetime, delegated scope), Graph's error
 * shapes and headers, and test controls under `/_emulator/` (fault injection, stats, mailboxes).
 *
 * Claims challenges (Continuous Access Evaluation): a fault `{ status: 401, claimsChallenge: true }`
 * revokes the user's tokens at that moment. Graph answers 401 + `error="insufficient_claims"` with
 * `claims` = base64 `{"access_token":{"nbf":{"essential":true,"value":"<epoch seconds>"}}}` and, from
 * then on, refuses every token of that user whose `iat` is before that epoch second, or which is the
 * very token that was challenged. A token issued afterwards passes. `DELETE /_emulator/faults`
 * lifts the revocations too.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { normalizeMessage, seedMailbox, type GraphMessage } from './graph-mailbox';
import { bearerTokenOf, createJwtVerifier, JwtVerificationError, scopesOf, stringClaim, type JwtClaims, type JwtFailure } from './jwt-verify';
import { listen, readJson, sleep } from './http-util';

export type { GraphMessage } from './graph-mailbox';

export interface GraphEmulatorOptions {
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** PEM certificate chain and key; without them the server speaks plain HTTP. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Accepted token issuer(s), e.g. `https://127.0.0.1:<port>/<tenant>/v2.0`. */
  readonly issuer: string | readonly string[];
  readonly jwksUri: string;
  /** Accepted audience(s), e.g. `https://graph.microsoft.com` (and/or `00000003-0000-0000-c000-000000000000`). */
  readonly audience: string | readonly string[];
  /** Extra CA (PEM) trusted when fetching the JWKS over https. */
  readonly jwksCa?: string | readonly string[];
  /** Mailboxes keyed by user oid. */
  readonly mailboxes?: Readonly<Record<string, readonly GraphMessage[]>>;
  /** Users without a mailbox get a generated one (default true); when false they get 404 MailboxNotEnabledForRESTAPI. */
  readonly autoSeed?: boolean;
  /** Latency of every Graph API response (not the admin routes), counted from the request's arrival. */
  readonly latencyMs?: number;
  /** Answer 429 ApplicationThrottled beyond this many concurrent requests per mailbox (Outlook: 4). 0 = off (default). */
  readonly mailboxConcurrencyLimit?: number;
  /**
   * Enforce Graph's rule for messages that $orderby properties appear in $filter first, in the same
   * order (else 400 InefficientFilter). Default true, as Graph does.
   */
  readonly strictFilterOrderBy?: boolean;
  /** `$skip` (Graph's behaviour for messages, default) or an opaque `$skiptoken` in @odata.nextLink. */
  readonly nextLinkStyle?: 'skip' | 'skiptoken';
  readonly clockToleranceSeconds?: number;
  /** ms since epoch; tests may move it. Default Date.now. */
  readonly clock?: () => number;
}

export interface GraphEmulator {
  /** GRAPH_API_ENDPOINT for the app, e.g. `https://127.0.0.1:5443/` (ends with '/'). */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** A queued fault (`POST /_emulator/faults`). */
export interface GraphFaultSpec {
  /** 429, 503, 504, 500, 502, 401, 403, 404 or 400. */
  readonly status?: number;
  /** How many matching responses this fault replaces. Default 1. */
  readonly count?: number;
  /** Retry-After header, seconds. 429 defaults to 1; other statuses send none unless set. */
  readonly retryAfterSeconds?: number;
  /** With status 401: a CAE claims challenge (see the top of this file). */
  readonly claimsChallenge?: boolean;
  /** Only requests to this resource. */
  readonly path?: 'messages' | 'me';
  /** Only requests whose token `oid` is this. */
  readonly user?: string;
  /** Override the error code in the body (e.g. `ApplicationThrottled`). */
  readonly code?: string;
  /** Instead of answering, destroy the connection (a network failure). */
  readonly reset?: boolean;
}

interface QueuedFault {
  readonly spec: GraphFaultSpec;
  remaining: number;
}

interface Settings {
  latencyMs: number;
  mailboxConcurrencyLimit: number;
  strictFilterOrderBy: boolean;
  autoSeed: boolean;
  nextLinkStyle: 'skip' | 'skiptoken';
}

interface Stats {
  requests: number;
  byPath: Record<string, number>;
  byStatus: Record<string, number>;
  byUser: Record<string, number>;
  maxConcurrentPerUser: number;
  faultsServed: number;
}

type Route = 'me' | 'messages';

/** The audiences of Graph access tokens: the resource URI and Graph's app id (Entra uses either). */
export const GRAPH_AUDIENCES: readonly string[] = ['https://graph.microsoft.com', '00000003-0000-0000-c000-000000000000'];

const GRAPH_WWW_AUTHENTICATE =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';
const JSON_CONTENT_TYPE = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';
const ADMIN_BODY_LIMIT = 5 * 1024 * 1024;
const ME_SCOPES = ['User.Read', 'User.ReadWrite', 'User.ReadBasic.All', 'User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Mail.Read'];
const MAIL_SCOPES = ['Mail.Read', 'Mail.ReadWrite'];
const FAULT_STATUSES = new Set([400, 401, 403, 404, 429, 500, 502, 503, 504]);

export async function startGraph(options: GraphEmulatorOptions): Promise<GraphEmulator> {
  const clock = options.clock ?? Date.now;
  const verifier = createJwtVerifier({
    issuer: options.issuer,
    jwksUri: options.jwksUri,
    audience: options.audience,
    clock,
    ...(options.jwksCa !== undefined ? { ca: options.jwksCa } : {}),
    ...(options.clockToleranceSeconds !== undefined ? { clockToleranceSeconds: options.clockToleranceSeconds } : {}),
  });
  const settings: Settings = {
    latencyMs: options.latencyMs ?? 0,
    mailboxConcurrencyLimit: options.mailboxConcurrencyLimit ?? 0,
    strictFilterOrderBy: options.strictFilterOrderBy ?? true,
    autoSeed: options.autoSeed ?? true,
    nextLinkStyle: options.nextLinkStyle ?? 'skip',
  };
  const mailboxes = new Map<string, GraphMessage[]>(Object.entries(options.mailboxes ?? {}).map(([oid, list]) => [oid, [...list]]));
  let faults: QueuedFault[] = [];
  /** oid -> epoch second of the revocation; older tokens get a claims challenge. */
  const revokedAt = new Map<string, number>();
  /** oid -> hashes of tokens that were challenged (refused even when issued in the same second). */
  const challengedTokens = new Map<string, Set<string>>();
  const inFlight = new Map<string, number>();
  let stats = emptyStats();
  let baseUrl = '';

  function emptyStats(): Stats {
    return { requests: 0, byPath: {}, byStatus: {}, byUser: {}, maxConcurrentPerUser: 0, faultsServed: 0 };
  }

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch(() => {
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('content-type', JSON_CONTENT_TYPE);
        res.end(JSON.stringify({ error: { code: 'generalException', message: 'General exception while processing.' } }));
      } else {
        res.destroy();
      }
    });
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', baseUrl);
    if (url.pathname === '/_emulator' || url.pathname.startsWith('/_emulator/')) {
      await admin(req, res, url);
      return;
    }
    // The injected latency counts from the request's arrival, so this emulator's own work (token
    // checks, building the page) is inside it, as a real service's processing is inside its latency.
    const due = performance.now() + settings.latencyMs;
    const untilDue = (): Promise<void> => sleep(Math.max(0, due - performance.now()));
    const requestId = randomUUID();
    const clientHeader = req.headers['client-request-id'];
    const clientRequestId = typeof clientHeader === 'string' && /^[A-Za-z0-9._-]{1,100}$/.test(clientHeader) ? clientHeader : requestId;
    const ctx: RequestContext = { req, res, requestId, clientRequestId, clock };
    res.setHeader('request-id', requestId);
    res.setHeader('client-request-id', clientRequestId);
    res.setHeader('cache-control', 'no-cache');

    stats.requests++;
    const pathKey = url.pathname.replace(/\/+$/, '') || '/';
    stats.byPath[pathKey] = (stats.byPath[pathKey] ?? 0) + 1;
    const count = (status: number): void => {
      stats.byStatus[String(status)] = (stats.byStatus[String(status)] ?? 0) + 1;
    };
    ctx.onStatus = count;

    const route: Route | undefined = /^\/v1\.0\/me\/?$/i.test(url.pathname) ? 'me' : /^\/v1\.0\/me\/messages\/?$/i.test(url.pathname) ? 'messages' : undefined;
    if (!route) {
      const segment = url.pathname.split('/').filter(Boolean).pop() ?? '';
      sendGraphError(ctx, 400, 'BadRequest', `Resource not found for the segment '${segment.slice(0, 100)}'.`);
      return;
    }
    if (req.method !== 'GET') {
      sendGraphError(ctx, 405, 'BadRequest', 'Specified HTTP method is not allowed for the request target.');
      return;
    }

    // 1. The token.
    const token = bearerTokenOf(req.headers.authorization);
    if (!token) {
      await untilDue();
      sendUnauthorized(ctx, 'Access token is empty.');
      return;
    }
    let claims: JwtClaims;
    try {
      claims = await verifier.verify(token);
    } catch (error) {
      await untilDue();
      if (error instanceof JwtVerificationError && error.reason === 'jwks_unavailable') {
        sendGraphError(ctx, 503, 'ServiceNotAvailable', 'The service is temporarily unavailable. Please retry later.', { 'retry-after': '1' });
        return;
      }
      sendUnauthorized(ctx, unauthorizedMessage(error instanceof JwtVerificationError ? error.reason : 'malformed'));
      return;
    }
    const oid = stringClaim(claims, 'oid');
    const scopes = scopesOf(claims);
    if (scopes.size === 0) {
      await untilDue();
      sendGraphError(ctx, route === 'me' ? 400 : 403, route === 'me' ? 'BadRequest' : 'ErrorAccessDenied', route === 'me' ? '/me request is only valid with delegated authentication flow.' : 'Access is denied. Check credentials and try again.');
      return;
    }
    if (!oid) {
      await untilDue();
      sendUnauthorized(ctx, 'Access token validation failure. The token has no oid claim.');
      return;
    }

    // The answer is built now, inside the injected latency, as a real service's processing is
    // inside its latency; it is sent only if the checks after the wait still let it through.
    const required = route === 'me' ? ME_SCOPES : MAIL_SCOPES;
    const permitted = required.some((s) => scopes.has(s));
    const answer = permitted ? (route === 'me' ? prepareMe : prepareMessages)(ctx, url, claims, oid) : undefined;

    // 2. Concurrency per mailbox, and the configured latency while the request is "in flight".
    stats.byUser[oid] = (stats.byUser[oid] ?? 0) + 1;
    const active = (inFlight.get(oid) ?? 0) + 1;
    inFlight.set(oid, active);
    stats.maxConcurrentPerUser = Math.max(stats.maxConcurrentPerUser, active);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const left = (inFlight.get(oid) ?? 1) - 1;
      if (left <= 0) inFlight.delete(oid);
      else inFlight.set(oid, left);
    };
    res.on('close', release);
    try {
      await untilDue();
      if (settings.mailboxConcurrencyLimit > 0 && active > settings.mailboxConcurrencyLimit) {
        sendGraphError(ctx, 429, 'ApplicationThrottled', 'Application is over its MailboxConcurrency limit.', { 'retry-after': '1' });
        return;
      }

      // 3. Revoked sessions (CAE) and queued faults.
      const tokenHash = createHash('sha256').update(token).digest('base64url');
      const revoked = revokedAt.get(oid);
      if (revoked !== undefined) {
        const iat = claims['iat'];
        if (typeof iat !== 'number' || iat < revoked || challengedTokens.get(oid)?.has(tokenHash)) {
          sendClaimsChallenge(ctx, revoked);
          return;
        }
      }
      const fault = takeFault(route, oid);
      if (fault) {
        stats.faultsServed++;
        if (fault.reset) {
          req.socket.destroy();
          return;
        }
        if (fault.status === 401 && fault.claimsChallenge) {
          const epoch = Math.floor(clock() / 1000);
          revokedAt.set(oid, Math.max(epoch, revokedAt.get(oid) ?? 0));
          const set = challengedTokens.get(oid) ?? new Set<string>();
          set.add(tokenHash);
          challengedTokens.set(oid, set);
          sendClaimsChallenge(ctx, revokedAt.get(oid) ?? epoch);
          return;
        }
        sendFault(ctx, fault);
        return;
      }

      // 4. Scope, then the resource.
      if (!answer) {
        if (route === 'me') sendGraphError(ctx, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
        else sendGraphError(ctx, 403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
        return;
      }
      answer();
    } finally {
      if (res.writableEnded || res.destroyed) release();
    }
  }

  function takeFault(route: Route, oid: string): GraphFaultSpec | undefined {
    const index = faults.findIndex((f) => (f.spec.path === undefined || f.spec.path === route) && (f.spec.user === undefined || f.spec.user === oid));
    if (index < 0) return undefined;
    const fault = faults[index] as QueuedFault;
    fault.remaining--;
    if (fault.remaining <= 0) faults.splice(index, 1);
    return fault.spec;
  }

  /** The answer to GET /me, ready to send: built before the injected latency is waited out. */
  function prepareMe(ctx: RequestContext, url: URL, claims: JwtClaims, oid: string): () => void {
    const params = url.searchParams;
    const bad = checkQueryOptions(params, new Set(['$select']));
    if (bad) return () => sendGraphError(ctx, 400, 'BadRequest', bad);
    const name = stringClaim(claims, 'name') ?? '';
    const upn = stringClaim(claims, 'upn') ?? stringClaim(claims, 'preferred_username') ?? null;
    const [first, ...rest] = name.split(' ');
    const user: Record<string, unknown> = {
      businessPhones: [],
      displayName: name || null,
      givenName: stringClaim(claims, 'given_name') ?? (first || null),
      jobTitle: null,
      mail: stringClaim(claims, 'email') ?? upn,
      mobilePhone: null,
      officeLocation: null,
      preferredLanguage: null,
      surname: stringClaim(claims, 'family_name') ?? (rest.join(' ') || null),
      userPrincipalName: upn,
      id: oid,
    };
    const select = params.get('$select');
    let body: Record<string, unknown> = { '@odata.context': `${baseUrl}v1.0/$metadata#users/$entity`, ...user };
    if (select !== null) {
      const known = new Map(Object.keys(user).map((k) => [k.toLowerCase(), k]));
      const picked: string[] = [];
      for (const raw of select.split(',')) {
        const property = raw.trim();
        const canonical = known.get(property.toLowerCase());
        if (!canonical) return () => sendGraphError(ctx, 400, 'BadRequest', `Could not find a property named '${property.slice(0, 100)}' on type 'microsoft.graph.user'.`);
        if (!picked.includes(canonical)) picked.push(canonical);
      }
      body = { '@odata.context': `${baseUrl}v1.0/$metadata#users(${picked.join(',')})/$entity` };
      for (const key of picked) body[key] = user[key];
    }
    const text = JSON.stringify(body);
    return () => sendJsonText(ctx, 200, text);
  }

  /** The answer to GET /me/messages, ready to send: built before the injected latency is waited out. */
  function prepareMessages(ctx: RequestContext, url: URL, claims: JwtClaims, oid: string): () => void {
    let mailbox = mailboxes.get(oid);
    if (!mailbox) {
      if (!settings.autoSeed) {
        return () => sendGraphError(ctx, 404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.');
      }
      const address = stringClaim(claims, 'email') ?? stringClaim(claims, 'preferred_username') ?? `${oid}@example.com`;
      mailbox = seedMailbox(oid, { name: stringClaim(claims, 'name') ?? address, address }, { now: clock() });
      mailboxes.set(oid, mailbox);
    }
    let query: MessageQuery;
    try {
      query = parseMessageQuery(url.searchParams, settings.strictFilterOrderBy);
    } catch (error) {
      if (error instanceof ODataError) return () => sendGraphError(ctx, 400, error.code, error.message);
      throw error;
    }
    const matching = mailbox.filter((m) => query.filter.every((clause) => clause.test(m)));
    matching.sort(comparatorOf(query.orderBy));
    const page = matching.slice(query.skip, query.skip + query.top);
    const bodyType = preferredBodyType(ctx.req.headers['prefer']);

    const context = `${baseUrl}v1.0/$metadata#users('${encodeURIComponent(oid)}')/messages${query.select ? `(${query.select.join(',')})` : ''}`;
    const body: Record<string, unknown> = { '@odata.context': context };
    if (query.count) body['@odata.count'] = matching.length;
    body['value'] = page.map((m) => project(m, query.select, bodyType ?? 'html'));
    if (query.skip + query.top < matching.length) {
      const next = new URLSearchParams(url.searchParams);
      next.delete('$skip');
      next.delete('$skiptoken');
      const nextSkip = query.skip + query.top;
      if (settings.nextLinkStyle === 'skiptoken') next.set('$skiptoken', Buffer.from(JSON.stringify({ skip: nextSkip })).toString('base64url'));
      else next.set('$skip', String(nextSkip));
      body['@odata.nextLink'] = `${baseUrl}v1.0/me/messages?${next.toString()}`;
    }
    const text = JSON.stringify(body);
    return () => sendJsonText(ctx, 200, text, bodyType ? { 'preference-applied': `outlook.body-content-type="${bodyType}"` } : {});
  }

  function sendClaimsChallenge(ctx: RequestContext, epoch: number): void {
    const claims = Buffer.from(JSON.stringify({ access_token: { nbf: { essential: true, value: String(epoch) } } })).toString('base64');
    sendGraphError(ctx, 401, 'InvalidAuthenticationToken', 'Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp', {
      'www-authenticate': `${GRAPH_WWW_AUTHENTICATE}, error="insufficient_claims", claims="${claims}"`,
    });
  }

  // ---- admin routes ---------------------------------------------------------------------------

  async function admin(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const reply = (status: number, body: unknown): void => {
      res.statusCode = status;
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.setHeader('cache-control', 'no-store');
      res.end(JSON.stringify(body));
    };
    const fail = (status: number, message: string): void => reply(status, { error: { code: status === 404 ? 'NotFound' : 'BadRequest', message } });
    let body: unknown;
    if (method === 'POST' || method === 'PUT') {
      try {
        body = await readJson(req, ADMIN_BODY_LIMIT);
      } catch (error) {
        return fail(400, error instanceof Error ? error.message : 'invalid body');
      }
    }

    if (path === '/_emulator/health' && method === 'GET') return reply(200, { ok: true });
    if (path === '/_emulator/faults') {
      if (method === 'GET') return reply(200, { faults: faults.map((f) => ({ ...f.spec, remaining: f.remaining })), revoked: Object.fromEntries(revokedAt) });
      if (method === 'DELETE') {
        faults = [];
        revokedAt.clear();
        challengedTokens.clear();
        return reply(200, { faults: [] });
      }
      if (method === 'POST') {
        const list = Array.isArray(body) ? body : Array.isArray((body as { faults?: unknown } | null)?.faults) ? (body as { faults: unknown[] }).faults : [body];
        const parsed: QueuedFault[] = [];
        for (const item of list) {
          const problem = validateFault(item);
          if (problem) return fail(400, problem);
          const spec = item as GraphFaultSpec;
          parsed.push({ spec, remaining: spec.count ?? 1 });
        }
        faults.push(...parsed);
        return reply(200, { queued: parsed.length, faults: faults.map((f) => ({ ...f.spec, remaining: f.remaining })) });
      }
    }
    if (path === '/_emulator/stats' && method === 'GET') return reply(200, stats);
    if (path === '/_emulator/stats/reset' && method === 'POST') {
      stats = emptyStats();
      return reply(200, stats);
    }
    if (path === '/_emulator/settings') {
      if (method === 'GET') return reply(200, settings);
      if (method === 'PUT' || method === 'POST') {
        const problem = applySettings(settings, body);
        if (problem) return fail(400, problem);
        return reply(200, settings);
      }
    }
    const mailboxMatch = /^\/_emulator\/mailboxes\/([^/]+)$/.exec(path);
    if (mailboxMatch) {
      const oid = decodeURIComponent(mailboxMatch[1] as string);
      if (method === 'GET') {
        const mailbox = mailboxes.get(oid);
        return mailbox ? reply(200, { value: mailbox }) : fail(404, `no mailbox for ${oid}`);
      }
      if (method === 'DELETE') {
        mailboxes.delete(oid);
        return reply(200, { deleted: oid });
      }
      if (method === 'PUT') {
        const list = Array.isArray(body) ? body : (body as { value?: unknown } | null)?.value;
        if (!Array.isArray(list)) return fail(400, 'expected an array of messages, or { "value": [...] }');
        try {
          const now = clock();
          const messages = list.map((m, i) => normalizeMessage(m, oid, i, now));
          mailboxes.set(oid, messages);
          return reply(200, { count: messages.length });
        } catch (error) {
          return fail(400, error instanceof Error ? error.message : 'invalid message');
        }
      }
    }
    return fail(404, `no admin route ${method} ${path}`);
  }

  const listening = await listen(handler, options);
  const { server, port } = listening;
  baseUrl = listening.baseUrl;
  return {
    url: baseUrl,
    port,
    stop: () => closeServer(server),
  };
}

// ---- OData ------------------------------------------------------------------------------------

class ODataError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface FilterClause {
  readonly property: string;
  test(message: GraphMessage): boolean;
}

interface OrderTerm {
  readonly property: string;
  readonly descending: boolean;
}

interface MessageQuery {
  readonly select: string[] | undefined;
  readonly filter: FilterClause[];
  readonly orderBy: OrderTerm[];
  readonly top: number;
  readonly skip: number;
  readonly count: boolean;
}

type PropertyType = 'string' | 'boolean' | 'datetime' | 'enum';

/** Message properties the emulator can filter and sort on, with their accessors. */
const FILTERABLE: Record<string, { type: PropertyType; get: (m: GraphMessage) => string | boolean }> = {
  id: { type: 'string', get: (m) => m.id },
  subject: { type: 'string', get: (m) => m.subject },
  isRead: { type: 'boolean', get: (m) => m.isRead },
  hasAttachments: { type: 'boolean', get: (m) => m.hasAttachments },
  isDraft: { type: 'boolean', get: () => false },
  importance: { type: 'enum', get: (m) => m.importance },
  receivedDateTime: { type: 'datetime', get: (m) => m.receivedDateTime },
  sentDateTime: { type: 'datetime', get: (m) => m.sentDateTime },
  createdDateTime: { type: 'datetime', get: (m) => m.receivedDateTime },
  lastModifiedDateTime: { type: 'datetime', get: (m) => m.receivedDateTime },
  conversationId: { type: 'string', get: (m) => m.conversationId },
  'from/emailAddress/address': { type: 'string', get: (m) => m.from.emailAddress.address },
  'from/emailAddress/name': { type: 'string', get: (m) => m.from.emailAddress.name },
  'sender/emailAddress/address': { type: 'string', get: (m) => m.from.emailAddress.address },
  'sender/emailAddress/name': { type: 'string', get: (m) => m.from.emailAddress.name },
};

/** Graph's `message` properties in the order Graph serializes them. */
const MESSAGE_PROPERTIES = [
  'id',
  'createdDateTime',
  'lastModifiedDateTime',
  'changeKey',
  'categories',
  'receivedDateTime',
  'sentDateTime',
  'hasAttachments',
  'internetMessageId',
  'subject',
  'bodyPreview',
  'importance',
  'parentFolderId',
  'conversationId',
  'conversationIndex',
  'isDeliveryReceiptRequested',
  'isReadReceiptRequested',
  'isRead',
  'isDraft',
  'webLink',
  'inferenceClassification',
  'body',
  'sender',
  'from',
  'toRecipients',
  'ccRecipients',
  'bccRecipients',
  'replyTo',
  'flag',
  'uniqueBody',
] as const;
/** Returned only when selected, like Graph. */
const NON_DEFAULT_PROPERTIES = new Set<string>(['uniqueBody']);
const MESSAGE_QUERY_OPTIONS = new Set(['$select', '$filter', '$orderby', '$top', '$skip', '$skiptoken', '$count']);

function checkQueryOptions(params: URLSearchParams, allowed: Set<string>): string | undefined {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (!key.startsWith('$')) continue;
    if (!allowed.has(key)) return `Query option '${key.slice(0, 50)}' is not allowed. To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings.`;
    if (seen.has(key)) return `Query option '${key}' was specified more than once, but it must be specified at most once.`;
    seen.add(key);
  }
  return undefined;
}

function parseMessageQuery(params: URLSearchParams, strictFilterOrderBy: boolean): MessageQuery {
  const bad = checkQueryOptions(params, MESSAGE_QUERY_OPTIONS);
  if (bad) throw new ODataError('BadRequest', bad);

  let select: string[] | undefined;
  const selectRaw = params.get('$select');
  if (selectRaw !== null) {
    const known = new Map(MESSAGE_PROPERTIES.map((p) => [p.toLowerCase(), p as string]));
    select = [];
    for (const raw of selectRaw.split(',')) {
      const name = raw.trim();
      if (!name) throw new ODataError('BadRequest', "Syntax error: the $select query option contains an empty property name.");
      const canonical = known.get(name.toLowerCase());
      if (!canonical) throw new ODataError('ErrorInvalidProperty', `Could not find a property named '${name.slice(0, 100)}' on type 'microsoft.graph.message'.`);
      if (!select.includes(canonical)) select.push(canonical);
    }
  }

  const filterRaw = params.get('$filter');
  const filter = filterRaw === null ? [] : parseFilter(filterRaw);

  const orderRaw = params.get('$orderby');
  const orderBy: OrderTerm[] = [];
  if (orderRaw !== null) {
    for (const raw of orderRaw.split(',')) {
      const match = /^\s*([A-Za-z/]+)(?:\s+(asc|desc))?\s*$/i.exec(raw);
      if (!match) throw new ODataError('BadRequest', `Syntax error at position 0 in '${orderRaw.slice(0, 200)}'.`);
      const property = canonicalProperty(match[1] as string);
      if (!property) throw new ODataError('ErrorInvalidProperty', `Could not find a property named '${(match[1] as string).slice(0, 100)}' on type 'microsoft.graph.message'.`);
      orderBy.push({ property, descending: (match[2] ?? 'asc').toLowerCase() === 'desc' });
    }
    if (filter.length > 0 && strictFilterOrderBy) {
      const filterOrder: string[] = [];
      for (const clause of filter) if (!filterOrder.includes(clause.property)) filterOrder.push(clause.property);
      const leading = filterOrder.slice(0, orderBy.length);
      if (leading.length !== orderBy.length || orderBy.some((term, i) => term.property !== leading[i])) {
        throw new ODataError('InefficientFilter', 'The restriction or sort order is too complex for this operation.');
      }
    }
  }
  if (orderBy.length === 0) orderBy.push({ property: 'receivedDateTime', descending: true });

  const top = integerOption(params, '$top', 10);
  if (top < 1 || top > 1000) throw new ODataError('BadRequest', `Invalid value '${top}' for $top query option found. The value must be between 1 and 1000.`);
  let skip = integerOption(params, '$skip', 0);
  const skipToken = params.get('$skiptoken');
  if (skipToken !== null) {
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(skipToken, 'base64url').toString('utf8'));
    } catch {
      decoded = undefined;
    }
    const value = (decoded as { skip?: unknown } | undefined)?.skip;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new ODataError('BadRequest', 'The $skiptoken is not valid.');
    skip += value;
  }
  const countRaw = params.get('$count');
  if (countRaw !== null && countRaw !== 'true' && countRaw !== 'false') throw new ODataError('BadRequest', `'${countRaw.slice(0, 50)}' is not a valid count option.`);
  return { select, filter, orderBy, top, skip, count: countRaw === 'true' };
}

function integerOption(params: URLSearchParams, name: string, fallback: number): number {
  const raw = params.get(name);
  if (raw === null) return fallback;
  if (!/^\d{1,9}$/.test(raw.trim())) throw new ODataError('BadRequest', `Invalid value '${raw.slice(0, 50)}' for ${name} query option found. The ${name} query option requires a non-negative integer value.`);
  return Number(raw.trim());
}

function canonicalProperty(name: string): string | undefined {
  const lower = name.toLowerCase();
  return Object.keys(FILTERABLE).find((k) => k.toLowerCase() === lower);
}

const FILTER_TOKEN = /\s*(?:(\()|(\))|('(?:[^']|'')*')|(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2}))|([A-Za-z][A-Za-z0-9/]*)|(\S))/y;

/** `clause (and clause)*`, clause = `property op literal`; op in eq ne gt ge lt le. */
function parseFilter(text: string): FilterClause[] {
  const tokens: { kind: 'string' | 'datetime' | 'word' | 'other'; value: string }[] = [];
  FILTER_TOKEN.lastIndex = 0;
  while (FILTER_TOKEN.lastIndex < text.length) {
    const start = FILTER_TOKEN.lastIndex;
    const match = FILTER_TOKEN.exec(text);
    if (!match) {
      if (text.slice(start).trim() === '') break;
      throw new ODataError('BadRequest', `Invalid filter clause: syntax error at position ${start}.`);
    }
    if (match[1] || match[2]) throw new ODataError('BadRequest', 'Invalid filter clause: parentheses are not supported by the emulator.');
    if (match[3] !== undefined) tokens.push({ kind: 'string', value: match[3].slice(1, -1).replace(/''/g, "'") });
    else if (match[4] !== undefined) tokens.push({ kind: 'datetime', value: match[4] });
    else if (match[5] !== undefined) tokens.push({ kind: 'word', value: match[5] });
    else if (match[6] !== undefined) throw new ODataError('BadRequest', `Invalid filter clause: syntax error at position ${start}.`);
  }
  const clauses: FilterClause[] = [];
  let i = 0;
  for (;;) {
    const [prop, op, literal] = [tokens[i], tokens[i + 1], tokens[i + 2]];
    if (!prop || !op || !literal || prop.kind !== 'word' || op.kind !== 'word') throw new ODataError('BadRequest', 'Invalid filter clause: expected <property> <operator> <value>.');
    const property = canonicalProperty(prop.value);
    if (!property) throw new ODataError('ErrorInvalidProperty', `Could not find a property named '${prop.value.slice(0, 100)}' on type 'microsoft.graph.message'.`);
    const operator = op.value.toLowerCase();
    if (!['eq', 'ne', 'gt', 'ge', 'lt', 'le'].includes(operator)) throw new ODataError('BadRequest', `Invalid filter clause: unknown operator '${op.value.slice(0, 20)}'.`);
    clauses.push(makeClause(property, operator, literal));
    i += 3;
    if (i >= tokens.length) break;
    const joiner = tokens[i];
    if (joiner?.kind !== 'word' || joiner.value.toLowerCase() !== 'and') throw new ODataError('BadRequest', "Invalid filter clause: the emulator supports clauses joined by 'and' only.");
    i++;
  }
  return clauses;
}

function makeClause(property: string, operator: string, literal: { kind: string; value: string }): FilterClause {
  const spec = FILTERABLE[property] as { type: PropertyType; get: (m: GraphMessage) => string | boolean };
  let expected: string | boolean | number;
  if (spec.type === 'boolean') {
    if (literal.kind !== 'word' || !/^(true|false)$/i.test(literal.value)) throw new ODataError('BadRequest', `Invalid filter clause: ${property} is compared with a boolean (true or false).`);
    expected = literal.value.toLowerCase() === 'true';
  } else if (spec.type === 'datetime') {
    if (literal.kind !== 'datetime' || Number.isNaN(Date.parse(literal.value))) throw new ODataError('BadRequest', `Invalid filter clause: ${property} is compared with a DateTimeOffset such as 2024-01-01T00:00:00Z.`);
    expected = Date.parse(literal.value);
  } else {
    if (literal.kind !== 'string') throw new ODataError('BadRequest', `Invalid filter clause: ${property} is compared with a quoted string.`);
    expected = spec.type === 'enum' ? literal.value.toLowerCase() : literal.value;
  }
  const compare = (actual: string | boolean): number => {
    if (spec.type === 'datetime') return Date.parse(actual as string) - (expected as number);
    if (spec.type === 'boolean') return Number(actual) - Number(expected);
    const a = spec.type === 'enum' ? String(actual).toLowerCase() : String(actual);
    return a < (expected as string) ? -1 : a > (expected as string) ? 1 : 0;
  };
  const test = (m: GraphMessage): boolean => {
    const c = compare(spec.get(m));
    switch (operator) {
      case 'eq':
        return c === 0;
      case 'ne':
        return c !== 0;
      case 'gt':
        return c > 0;
      case 'ge':
        return c >= 0;
      case 'lt':
        return c < 0;
      default:
        return c <= 0;
    }
  };
  return { property, test };
}

function comparatorOf(orderBy: readonly OrderTerm[]): (a: GraphMessage, b: GraphMessage) => number {
  return (a, b) => {
    for (const term of orderBy) {
      const spec = FILTERABLE[term.property] as { type: PropertyType; get: (m: GraphMessage) => string | boolean };
      const x = spec.get(a);
      const y = spec.get(b);
      let c: number;
      if (spec.type === 'datetime') c = Date.parse(x as string) - Date.parse(y as string);
      else if (spec.type === 'boolean') c = Number(x) - Number(y);
      else c = String(x).localeCompare(String(y));
      if (c !== 0) return term.descending ? -c : c;
    }
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  };
}

function preferredBodyType(prefer: string | string[] | undefined): 'text' | 'html' | undefined {
  if (!prefer) return undefined;
  const match = /outlook\.body-content-type\s*=\s*"?(text|html)"?/i.exec(Array.isArray(prefer) ? prefer.join(',') : prefer);
  return match ? (match[1]?.toLowerCase() as 'text' | 'html') : undefined;
}

function project(m: GraphMessage, select: readonly string[] | undefined, bodyType: 'text' | 'html'): Record<string, unknown> {
  const digest = createHash('sha256').update(m.id).digest('base64');
  const body =
    bodyType === 'text'
      ? { contentType: 'text', content: m.body.content }
      : { contentType: 'html', content: `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body>${escapeHtml(m.body.content)}</body></html>` };
  const full: Record<string, unknown> = {
    id: m.id,
    createdDateTime: m.receivedDateTime,
    lastModifiedDateTime: m.receivedDateTime,
    changeKey: `CQAAABYAAAD${digest.slice(0, 32)}`,
    categories: [],
    receivedDateTime: m.receivedDateTime,
    sentDateTime: m.sentDateTime,
    hasAttachments: m.hasAttachments,
    internetMessageId: `<${digest.replace(/[^A-Za-z0-9]/g, '').slice(0, 24)}@mail.example>`,
    subject: m.subject,
    bodyPreview: m.bodyPreview,
    importance: m.importance,
    parentFolderId: 'AQMkADAwATM0MDAAMS1iNTcwLWI2NTEtMDACLTAwCgAuAAADInbox',
    conversationId: m.conversationId,
    conversationIndex: Buffer.from(digest.slice(0, 22)).toString('base64'),
    isDeliveryReceiptRequested: false,
    isReadReceiptRequested: false,
    isRead: m.isRead,
    isDraft: false,
    webLink: m.webLink,
    inferenceClassification: 'focused',
    body,
    sender: m.from,
    from: m.from,
    toRecipients: m.toRecipients,
    ccRecipients: [],
    bccRecipients: [],
    replyTo: [],
    flag: { flagStatus: 'notFlagged' },
    uniqueBody: body,
  };
  const result: Record<string, unknown> = { '@odata.etag': `W/"${full['changeKey'] as string}"` };
  const wanted = select ? new Set(['id', ...select]) : new Set(MESSAGE_PROPERTIES.filter((p) => !NON_DEFAULT_PROPERTIES.has(p)));
  for (const property of MESSAGE_PROPERTIES) if (wanted.has(property)) result[property] = full[property];
  return result;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// ---- responses --------------------------------------------------------------------------------

interface RequestContext {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly requestId: string;
  readonly clientRequestId: string;
  readonly clock: () => number;
  onStatus?: (status: number) => void;
}

function sendJson(ctx: RequestContext, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonText(ctx, status, JSON.stringify(body), headers);
}

function sendJsonText(ctx: RequestContext, status: number, text: string, headers: Record<string, string> = {}): void {
  if (ctx.res.headersSent || ctx.res.destroyed) return;
  ctx.onStatus?.(status);
  ctx.res.statusCode = status;
  ctx.res.setHeader('content-type', JSON_CONTENT_TYPE);
  for (const [name, value] of Object.entries(headers)) ctx.res.setHeader(name, value);
  ctx.res.end(text);
}

function sendGraphError(ctx: RequestContext, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(
    ctx,
    status,
    {
      error: {
        code,
        message,
        innerError: {
          date: new Date(ctx.clock()).toISOString().replace(/\.\d{3}Z$/, ''),
          'request-id': ctx.requestId,
          'client-request-id': ctx.clientRequestId,
        },
      },
    },
    headers,
  );
}

function sendUnauthorized(ctx: RequestContext, message: string): void {
  sendGraphError(ctx, 401, 'InvalidAuthenticationToken', message, { 'www-authenticate': GRAPH_WWW_AUTHENTICATE });
}

function unauthorizedMessage(reason: JwtFailure): string {
  switch (reason) {
    case 'expired':
      return 'Lifetime validation failed, the token is expired.';
    case 'not_yet_valid':
      return 'Lifetime validation failed, the token is not yet valid.';
    case 'audience':
      return 'Access token validation failure. Invalid audience.';
    case 'issuer':
      return 'Access token validation failure. Invalid issuer.';
    case 'bad_signature':
    case 'unknown_key':
    case 'unsupported_alg':
      return 'Access token validation failure. Invalid signature.';
    default:
      return 'CompactToken parsing failed with error code: 80049217';
  }
}

function sendFault(ctx: RequestContext, fault: GraphFaultSpec): void {
  const status = fault.status ?? 503;
  const headers: Record<string, string> = {};
  const retryAfter = fault.retryAfterSeconds ?? (status === 429 ? 1 : undefined);
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  const defaults: Record<number, [string, string]> = {
    400: ['BadRequest', 'The request is invalid.'],
    401: ['InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.'],
    403: ['ErrorAccessDenied', 'Access is denied. Check credentials and try again.'],
    404: ['ErrorItemNotFound', 'The specified object was not found in the store.'],
    429: ['TooManyRequests', 'Too many requests have been made. Retry after the time given in the Retry-After header.'],
    500: ['generalException', 'General exception while processing.'],
    502: ['BadGateway', 'The gateway received an invalid response from the backend service.'],
    503: ['ServiceNotAvailable', 'The service is temporarily unavailable. Please retry later.'],
    504: ['GatewayTimeout', 'The gateway did not receive a response from the backend service in time.'],
  };
  const [code, message] = defaults[status] ?? ['UnknownError', 'An error occurred.'];
  if (status === 401) headers['www-authenticate'] = GRAPH_WWW_AUTHENTICATE;
  sendGraphError(ctx, status, fault.code ?? code, message, headers);
}

function validateFault(item: unknown): string | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return 'a fault must be an object';
  const f = item as Record<string, unknown>;
  if (f['reset'] !== undefined && typeof f['reset'] !== 'boolean') return 'reset must be a boolean';
  if (f['reset'] !== true && (typeof f['status'] !== 'number' || !FAULT_STATUSES.has(f['status']))) return `status must be one of ${[...FAULT_STATUSES].join(', ')}`;
  if (f['count'] !== undefined && (typeof f['count'] !== 'number' || !Number.isInteger(f['count']) || f['count'] < 1)) return 'count must be a positive integer';
  if (f['retryAfterSeconds'] !== undefined && (typeof f['retryAfterSeconds'] !== 'number' || !Number.isInteger(f['retryAfterSeconds']) || f['retryAfterSeconds'] < 0))
    return 'retryAfterSeconds must be a non-negative integer';
  if (f['claimsChallenge'] !== undefined && typeof f['claimsChallenge'] !== 'boolean') return 'claimsChallenge must be a boolean';
  if (f['claimsChallenge'] === true && f['status'] !== 401) return 'claimsChallenge needs status 401';
  if (f['path'] !== undefined && f['path'] !== 'messages' && f['path'] !== 'me') return "path must be 'messages' or 'me'";
  if (f['user'] !== undefined && typeof f['user'] !== 'string') return 'user must be an oid string';
  if (f['code'] !== undefined && (typeof f['code'] !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(f['code']))) return 'code must be a short identifier';
  return undefined;
}

function applySettings(settings: Settings, body: unknown): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'settings must be an object';
  const b = body as Record<string, unknown>;
  const next = { ...settings };
  for (const [key, value] of Object.entries(b)) {
    switch (key) {
      case 'latencyMs':
      case 'mailboxConcurrencyLimit':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 600_000) return `${key} must be a non-negative integer`;
        next[key] = value;
        break;
      case 'strictFilterOrderBy':
      case 'autoSeed':
        if (typeof value !== 'boolean') return `${key} must be a boolean`;
        next[key] = value;
        break;
      case 'nextLinkStyle':
        if (value !== 'skip' && value !== 'skiptoken') return "nextLinkStyle must be 'skip' or 'skiptoken'";
        next.nextLinkStyle = value;
        break;
      default:
        return `unknown setting ${key}`;
    }
  }
  Object.assign(settings, next);
  return undefined;
}

// ---- plumbing ---------------------------------------------------------------------------------



function closeServer(server: http.Server | https.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

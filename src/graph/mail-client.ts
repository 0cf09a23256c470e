/**
 * The Microsoft Graph mail client: `/me/messages` with the OData the app needs, Graph's throttling
 * and outage answers retried within a small time budget, and Continuous Access Evaluation claims
 * challenges surfaced to the caller (who must get a new token with those claims).
 */
import { AppError, ErrorCode, unavailable } from '../errors';
import { instruments } from '../telemetry/instruments';
import { tracedTransport } from './traced-transport';
import { fetchTransport, nodeTransport, type GraphAnswer, type GraphTransport, type NodeTransportOptions } from './transport';

export interface MailMessage {
  readonly id: string;
  readonly from: { readonly name: string; readonly address: string };
  readonly subject: string;
  readonly receivedDateTime: string;
  readonly bodyPreview: string;
  readonly isRead: boolean;
  readonly webLink: string;
}

export interface MailQuery {
  readonly top: number;
  readonly unreadOnly: boolean;
  /** The query string of a Graph @odata.nextLink, already authenticated by the caller. */
  readonly nextQuery?: string;
}

export interface MailPage {
  readonly messages: readonly MailMessage[];
  /** The query string of the next page, or undefined on the last page. */
  readonly nextQuery: string | undefined;
}

/** Graph asked for a token carrying these claims (CAE: revoked session, policy change, ...). */
export class ClaimsChallengeError extends Error {
  readonly code = 'claims_challenge';
  constructor(readonly claims: string) {
    super('Graph requires a token with additional claims.');
    this.name = 'ClaimsChallengeError';
  }
}

export interface GraphClientOptions {
  readonly endpoint: string;
  /** Talk HTTP through this fetch instead of Node's http/https client (transport.ts); for tests. */
  readonly fetch?: typeof fetch;
  /** The pool of the default transport (ignored with `fetch`). */
  readonly connections?: NodeTransportOptions;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Total time the client may spend waiting for Graph to recover before answering 503. */
  readonly retryBudgetMs?: number;
  readonly requestTimeoutMs?: number;
  /** Outlook allows 4 concurrent requests per mailbox; more only earns 429s. */
  readonly maxConcurrentPerMailbox?: number;
}

const ORDER_PROPERTY = 'receivedDateTime';
const SELECT = 'id,from,subject,receivedDateTime,bodyPreview,isRead,webLink';
const NEXT_QUERY_PARAMS = new Set(['$skip', '$skiptoken', '$top', '$filter', '$select', '$orderby', '$count']);
/** The Graph request for a page of the signed-in user's messages. */
export function messagesUrl(endpoint: string, query: MailQuery): URL {
  const url = new URL('v1.0/me/messages', endpoint.endsWith('/') ? endpoint : `${endpoint}/`);
  if (query.nextQuery !== undefined) {
    url.search = sanitizeNextQuery(query.nextQuery);
  } else {
    url.searchParams.set('$select', SELECT);
    // Graph refuses a $filter that does not start with the $orderby property (InefficientFilter),
    // hence the always-true date clause in front of the unread test.
    if (query.unreadOnly) url.searchParams.set('$filter', `${ORDER_PROPERTY} ge 1900-01-01T00:00:00Z and isRead eq false`);
    url.searchParams.set('$orderby', `${ORDER_PROPERTY} desc`);
    url.searchParams.set('$top', String(query.top));
  }
  return url;
}

/** The headers of that request: previews as text, not HTML. */
export function messagesRequestHeaders(accessToken: string): Record<string, string> {
  return { Authorization: `Bearer ${accessToken}`, Accept: 'application/json', Prefer: 'outlook.body-content-type="text"' };
}

/** Throttling; every 5xx is retried too (a Graph outage or a gateway in front of it). */
const RETRYABLE = new Set([408, 429]);

export class GraphMailClient {
  private readonly endpoint: string;
  private readonly transport: GraphTransport;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly retryBudgetMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxConcurrent: number;
  private readonly inFlight = new Map<string, { active: number; waiting: (() => void)[] }>();

  constructor(options: GraphClientOptions) {
    this.endpoint = options.endpoint.endsWith('/') ? options.endpoint : `${options.endpoint}/`;
    this.transport = tracedTransport(options.fetch ? fetchTransport(options.fetch) : nodeTransport(options.connections));
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.retryBudgetMs = options.retryBudgetMs ?? 4000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.maxConcurrent = options.maxConcurrentPerMailbox ?? 4;
  }

  async listMessages(accessToken: string, mailbox: string, query: MailQuery): Promise<MailPage> {
    const url = messagesUrl(this.endpoint, query);
    const body = (await this.withMailboxSlot(mailbox, () => this.get(url, accessToken))) as {
      value?: unknown;
      '@odata.nextLink'?: unknown;
    };
    const messages = Array.isArray(body.value) ? body.value.map(toMessage) : [];
    return { messages, nextQuery: this.nextQueryOf(body['@odata.nextLink']) };
  }

  /** Only a nextLink that points at this Graph endpoint's messages is followed; its query is kept. */
  private nextQueryOf(nextLink: unknown): string | undefined {
    if (typeof nextLink !== 'string') return undefined;
    let url: URL;
    try {
      url = new URL(nextLink);
    } catch {
      return undefined;
    }
    const expected = new URL('v1.0/me/messages', this.endpoint);
    if (url.origin !== expected.origin || url.pathname !== expected.pathname) return undefined;
    return url.search.replace(/^\?/, '');
  }

  private async get(url: URL, accessToken: string): Promise<unknown> {
    const deadline = Date.now() + this.retryBudgetMs;
    const headers = messagesRequestHeaders(accessToken);
    for (let attempt = 0; ; attempt++) {
      let response: GraphAnswer;
      try {
        response = await this.transport(url, headers, this.requestTimeoutMs);
      } catch (error) {
        const wait = backoff(attempt);
        if (Date.now() + wait > deadline) throw graphUnavailable(error, 5);
        instruments().graphRetries.add(1, { reason: 'network' });
        await this.sleep(wait);
        continue;
      }
      if (response.status >= 200 && response.status < 300) {
        try {
          return await response.json();
        } catch (error) {
          // A cut or garbled answer is an outage symptom: retry within the budget like one.
          const wait = backoff(attempt);
          if (Date.now() + wait > deadline) throw graphUnavailable(error, 5);
          instruments().graphRetries.add(1, { reason: 'garbled' });
          await this.sleep(wait);
          continue;
        }
      }

      if (RETRYABLE.has(response.status) || response.status >= 500) {
        const retryAfter = retryAfterMs(response.header('retry-after')) ?? backoff(attempt);
        await response.discard();
        if (response.status === 429) instruments().graphThrottles.add(1);
        if (Date.now() + retryAfter > deadline) throw graphUnavailable(undefined, Math.ceil(Math.max(retryAfter, 1000) / 1000));
        instruments().graphRetries.add(1, { reason: response.status === 429 ? 'throttled' : 'unavailable' });
        await this.sleep(retryAfter);
        continue;
      }
      const claims = response.status === 401 ? claimsChallengeOf(response.header('www-authenticate')) : undefined;
      const error = await graphErrorOf(response);
      if (claims) throw new ClaimsChallengeError(claims);
      throw error;
    }
  }

  private async withMailboxSlot<T>(mailbox: string, call: () => Promise<T>): Promise<T> {
    let slot = this.inFlight.get(mailbox);
    if (!slot) {
      slot = { active: 0, waiting: [] };
      this.inFlight.set(mailbox, slot);
    }
    const current = slot;
    if (current.active >= this.maxConcurrent) await new Promise<void>((resolve) => current.waiting.push(resolve));
    current.active++;
    try {
      return await call();
    } finally {
      current.active--;
      const next = current.waiting.shift();
      if (next) next();
      else if (current.active === 0) this.inFlight.delete(mailbox);
    }
  }
}

function sanitizeNextQuery(query: string): string {
  const params = new URLSearchParams(query);
  for (const name of params.keys()) {
    if (!NEXT_QUERY_PARAMS.has(name)) throw new AppError(ErrorCode.BAD_REQUEST, 'The cursor is not valid. Start again from the first page.', { status: 400 });
  }
  return params.toString();
}

function toMessage(raw: unknown): MailMessage {
  const m = (raw ?? {}) as Record<string, unknown>;
  const from = ((m['from'] as { emailAddress?: Record<string, unknown> } | undefined)?.emailAddress ?? {}) as Record<string, unknown>;
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  return {
    id: str(m['id']),
    from: { name: str(from['name']), address: str(from['address']) },
    subject: str(m['subject']),
    receivedDateTime: str(m['receivedDateTime']),
    bodyPreview: str(m['bodyPreview']),
    isRead: m['isRead'] === true,
    webLink: str(m['webLink']),
  };
}

function backoff(attempt: number): number {
  return Math.min(2000, 250 * 2 ** attempt) + Math.floor(Math.random() * 100);
}

/** Retry-After in seconds or as an HTTP date. */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** `Bearer realm="", ..., error="insufficient_claims", claims="<base64>"` -> the decoded claims JSON. */
export function claimsChallengeOf(header: string | null): string | undefined {
  if (!header || !/error\s*=\s*"?insufficient_claims"?/i.test(header)) return undefined;
  const match = /claims\s*=\s*"([^"]+)"/i.exec(header);
  if (!match?.[1]) return undefined;
  try {
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    JSON.parse(decoded);
    return decoded;
  } catch {
    return undefined;
  }
}

async function graphErrorOf(response: GraphAnswer): Promise<AppError> {
  let code = `http_${response.status}`;
  try {
    const body = (await response.json()) as { error?: { code?: unknown } };
    if (typeof body.error?.code === 'string') code = body.error.code;
  } catch {
    // not JSON: keep the status-based code
  }
  const requestId = response.header('request-id') ?? undefined;
  const details = { graphError: code, graphStatus: response.status, ...(requestId ? { requestId } : {}) };
  if (response.status === 403) {
    // Consent for the mail scope withdrawn, or a policy forbids it: retrying cannot help.
    return new AppError(ErrorCode.GRAPH_FORBIDDEN, 'This app is not allowed to read your mail any more. Sign in again and accept, or ask your administrator to allow it.', {
      status: 403,
      details,
    });
  }
  if (response.status === 404) {
    return new AppError(ErrorCode.MAILBOX_UNAVAILABLE, 'This account has no Exchange Online mailbox the app can read. Sign in with a work or school account that has one.', {
      status: 404,
      details,
    });
  }
  return new AppError(ErrorCode.GRAPH_ERROR, 'Microsoft Graph refused the request. If it persists, contact support with the request id.', {
    status: 502,
    details,
  });
}

function graphUnavailable(cause: unknown, retryAfterSeconds: number): AppError {
  return unavailable(ErrorCode.GRAPH_UNAVAILABLE, 'Microsoft Graph is busy or unavailable right now. Try again shortly.', cause, retryAfterSeconds);
}

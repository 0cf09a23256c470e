/**
 * The rig's floor: a /api/mail that does nothing a backend-for-frontend must do. No session, no
 * MSAL, no token cache, no memories, no shaping: it looks the caller's access token up in a map
 * filled before the run and forwards the same Graph request the app makes, over the same transport,
 * through the same local host (and so the same @azure/functions request and response objects).
 *
 * Its latency minus the injected Graph latency is what the machine, the load generator, the host
 * glue and the emulated Graph cost by themselves; the app's overhead above it is the app's own.
 */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { messagesRequestHeaders, messagesUrl } from '../src/graph/mail-client';
import { nodeTransport } from '../src/graph/transport';
import type { Route } from '../src/http/route';

export interface FloorOptions {
  readonly graphEndpoint: string;
  /** The access token for a request's Cookie header, or undefined (answered 401). */
  readonly accessTokenFor: (cookieHeader: string) => string | undefined;
}

export function createFloorRoutes(options: FloorOptions): Route[] {
  const transport = nodeTransport();
  const mail = async (request: HttpRequest): Promise<HttpResponseInit> => {
    const token = options.accessTokenFor(request.headers.get('cookie') ?? '');
    if (token === undefined) return { status: 401, jsonBody: { error: 'not_signed_in' } };
    const url = messagesUrl(options.graphEndpoint, { top: Number(request.query.get('top') ?? 10), unreadOnly: false });
    const answer = await transport(url, messagesRequestHeaders(token), 10_000);
    return { status: answer.status, jsonBody: await answer.json() };
  };
  return [{ name: 'mail', methods: ['GET'], path: '/api/mail', handler: mail }];
}

/**
 * msal-node's network module with a deadline on every request. msal-node's own client sets no
 * timeout on token requests, so a hanging Entra would hold the request (and the user's refresh
 * lease) until the Functions timeout. With this one, a slow token call fails as MSAL's
 * network_error, which the app answers with 503 + Retry-After, well inside the lease's lifetime.
 */
import { AuthError, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from '@azure/msal-node';
import { instruments } from '../telemetry/instruments';
import { clientCall } from '../telemetry/spans';

/**
 * Two token calls (the credential retry after invalid_client) must fit in the 15 s refresh lease
 * (src/cache/lease.ts) with room to spare.
 */
export const TOKEN_REQUEST_TIMEOUT_MS = 5_000;

export function timedNetworkModule(timeoutMs = TOKEN_REQUEST_TIMEOUT_MS): INetworkModule {
  const send = <T>(url: string, method: 'GET' | 'POST', options: NetworkRequestOptions | undefined): Promise<NetworkResponse<T>> =>
    tracedEntraCall(url, method, options?.body, () => untracedSend<T>(url, method, options));
  const untracedSend = async <T>(url: string, method: 'GET' | 'POST', options: NetworkRequestOptions | undefined): Promise<NetworkResponse<T>> => {
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: new Headers(options?.headers ?? {}),
        ...(method === 'POST' ? { body: options?.body ?? '' } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      throw new AuthError('network_error', timedOut ? `No answer within ${timeoutMs} ms` : 'Network request failed');
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    let body: T;
    try {
      body = (await response.json()) as T;
    } catch {
      // A cut or non-JSON answer (a gateway's HTML error page) is a transient failure, not a bug.
      throw new AuthError('network_error', `Unreadable answer (HTTP ${response.status})`);
    }
    return { headers, body, status: response.status };
  };
  return {
    sendGetRequestAsync: (url, options) => send(url, 'GET', options),
    sendPostRequestAsync: (url, options) => send(url, 'POST', options),
  };
}

/** The OAuth error codes a redemption failure is counted by; anything else is `other`. */
const OAUTH_ERROR = /^[a-z_]{1,40}$/;

/**
 * A client span per Entra call (`entra token`, `entra metadata`), timed into bff.entra.duration; a
 * refresh-token redemption (a token request with grant_type=refresh_token) also counts in
 * bff.refresh.redemptions, ok or failed with the OAuth error. Only the grant type is read from the
 * body and only the `error` code from the answer: the body's tokens and codes never leave here.
 */
function tracedEntraCall<T>(url: string, method: 'GET' | 'POST', body: string | undefined, call: () => Promise<NetworkResponse<T>>): Promise<NetworkResponse<T>> {
  const { host, pathname } = new URL(url);
  const operation = method === 'POST' && pathname.endsWith('/token') ? 'token' : 'metadata';
  const grant = operation === 'token' && body ? new URLSearchParams(body).get('grant_type') ?? undefined : undefined;
  const redemption = grant === 'refresh_token';
  return clientCall(
    `entra ${operation}`,
    { 'http.request.method': method, 'server.address': host, 'bff.entra.operation': operation, ...(grant ? { 'oauth.grant_type': grant } : {}) },
    instruments().entraDuration,
    { 'bff.entra.operation': operation },
    async () => {
      let response: NetworkResponse<T>;
      try {
        response = await call();
      } catch (error) {
        if (redemption) instruments().refreshRedemptions.add(1, { outcome: 'failed', 'oauth.error': 'network_error' });
        throw error;
      }
      if (redemption) {
        const code = (response.body as { error?: unknown } | undefined)?.error;
        instruments().refreshRedemptions.add(
          1,
          response.status === 200 ? { outcome: 'ok' } : { outcome: 'failed', 'oauth.error': typeof code === 'string' && OAUTH_ERROR.test(code) ? code : 'other' },
        );
      }
      return response;
    },
    (response) => response.status,
  );
}

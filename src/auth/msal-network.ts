/**
 * msal-node's network module with a deadline on every request. msal-node's own client sets no
 * timeout on token requests, so a hanging Entra would hold the request (and the user's refresh
 * lease) until the Functions timeout. With this one, a slow token call fails as MSAL's
 * network_error, which the app answers with 503 + Retry-After, well inside the lease's lifetime.
 */
import { AuthError, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from '@azure/msal-node';

/**
 * Two token calls (the credential retry after invalid_client) must fit in the 15 s refresh lease
 * (src/cache/lease.ts) with room to spare.
 */
export const TOKEN_REQUEST_TIMEOUT_MS = 5_000;

export function timedNetworkModule(timeoutMs = TOKEN_REQUEST_TIMEOUT_MS): INetworkModule {
  const send = async <T>(url: string, method: 'GET' | 'POST', options: NetworkRequestOptions | undefined): Promise<NetworkResponse<T>> => {
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

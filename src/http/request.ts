import type { HttpRequest } from '@azure/functions';
import { AppError, ErrorCode, badRequest } from '../errors';
import { MAX_BODY_BYTES } from './local-host';

/**
 * Reads an application/x-www-form-urlencoded body. The Functions host accepts far larger bodies
 * than this app ever needs, so the limit is enforced here too, not only by the local host.
 */
export async function readForm(request: HttpRequest): Promise<URLSearchParams> {
  const type = request.headers.get('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    throw badRequest('Send this form as application/x-www-form-urlencoded.');
  }
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const body = await request.text();
  if (Buffer.byteLength(body) > MAX_BODY_BYTES) throw tooLarge();
  return new URLSearchParams(body);
}

function tooLarge(): AppError {
  return new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `The request body is larger than ${MAX_BODY_BYTES} bytes.`, { status: 413 });
}

/**
 * CSRF defence for state-changing POSTs: the browser's Origin must be the app's own. Browsers send
 * Origin on every POST, but as `null` under some referrer policies and privacy settings; then
 * Sec-Fetch-Site (set by the browser, not by page script) decides. A request with neither is refused.
 */
export function assertSameOrigin(request: HttpRequest, publicBaseUrl: string): void {
  const origin = request.headers.get('origin');
  const fetchSite = request.headers.get('sec-fetch-site');
  const sameOrigin = origin !== null && origin !== 'null' ? origin === publicBaseUrl : fetchSite === 'same-origin';
  if (!sameOrigin) {
    throw new AppError(ErrorCode.FORBIDDEN_ORIGIN, 'This action must be started from the app itself. Go back to the app and try again.', {
      status: 403,
    });
  }
}

import type { HttpRequest } from '@azure/functions';
import { AppError, ErrorCode } from '../errors';
import { assertSameOrigin } from './request';

/** The anti-forgery header every state-changing API call from the page sends. */
export const CSRF_HEADER = 'X-CSRF';

/**
 * THE rule for every state-changing API endpoint (JSON, called by the page's script): the app's own
 * Origin (assertSameOrigin) and the header `X-CSRF: 1`. A custom header makes the browser send a
 * CORS preflight first, which this app never answers with permission, so no other site's page can
 * send it, even where Origin checks are weakened (`Origin: null`, old browsers). HTML forms cannot
 * set headers, so a forged form post is refused too. Answers 403 otherwise.
 */
export function assertWriteRequest(request: HttpRequest, publicBaseUrl: string): void {
  assertSameOrigin(request, publicBaseUrl);
  if (request.headers.get(CSRF_HEADER) !== '1') {
    throw new AppError(ErrorCode.CSRF_HEADER_MISSING, `This action must be sent by the app's own page (header ${CSRF_HEADER}: 1). Reload the page and try again.`, {
      status: 403,
    });
  }
}

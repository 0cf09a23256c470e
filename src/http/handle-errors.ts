import type { Cookie, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { AppError, ErrorCode, isAppError } from '../errors';
import { errorPage } from '../web/pages';
import { html, json } from './responses';
import type { RouteHandler } from './route';

export type ResponseKind = 'api' | 'page';

/**
 * A failure whose error response must still set these cookies (the callback deletes its one-time
 * sign-in cookie whatever happens next). handleErrors answers for `error` and adds the cookies.
 */
export class FailureWithCookies extends Error {
  constructor(
    readonly error: unknown,
    readonly cookies: readonly Cookie[],
  ) {
    super('failure with cookies to set');
    this.name = 'FailureWithCookies';
  }
}

/** Extra fields for a failure's log line (the trace and span ids: see telemetry/request-span.ts). */
export type CorrelateFailure = (error: AppError) => Readonly<Record<string, string>>;

/**
 * Turns any failure of a handler into a clear response: AppError keeps its status and code (JSON for
 * the API, a readable page for the browser); anything else is a 500 with a generic message and no
 * stack trace. One log line per failure, a JSON object with the stable code, the invocation id and
 * (with `correlate`) the trace id; it names the cause's kind, never request data or tokens.
 */
export function handleErrors(kind: ResponseKind, handler: RouteHandler, correlate?: CorrelateFailure): RouteHandler {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      return await handler(request, context);
    } catch (thrown) {
      const error = thrown instanceof FailureWithCookies ? thrown.error : thrown;
      const cookies = thrown instanceof FailureWithCookies ? thrown.cookies : [];
      const appError = isAppError(error)
        ? error
        : new AppError(ErrorCode.INTERNAL, 'Something went wrong on our side. Try again in a moment.', { status: 500, cause: error });
      const line = failureLine(context, appError, correlate?.(appError));
      if (appError.status >= 500) context.error(line);
      else context.warn(line);
      const response = errorResponse(kind, appError);
      return cookies.length > 0 ? { ...response, cookies: [...(response.cookies ?? []), ...cookies] } : response;
    }
  };
}

/**
 * `{"event":"request_failed","function":...,"invocationId":...,"code":...,"status":...,"message":...,"cause":...,"traceId":...}`:
 * one JSON object per line, so Application Insights (or any log store) can filter on the code and
 * join on the trace id. The message is the AppError's own (written never to hold request data).
 */
export function failureLine(context: InvocationContext, error: AppError, extra: Readonly<Record<string, string>> = {}): string {
  const cause = describeCause(error.cause);
  return JSON.stringify({
    event: 'request_failed',
    function: context.functionName,
    invocationId: context.invocationId,
    code: error.code,
    status: error.status,
    message: error.message,
    ...(cause ? { cause } : {}),
    ...extra,
  });
}

/**
 * Configuration problems name vaults, secrets and roles: that is for operators (it is in the log
 * line), not for whoever happens to load the page.
 */
function forClient(error: AppError): AppError {
  if (error.code !== ErrorCode.CONFIG_INVALID) return error;
  return new AppError(error.code, 'The app is not configured correctly. Its operators have been told; try again later.', {
    status: error.status,
    ...(error.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
  });
}

export function errorResponse(kind: ResponseKind, original: AppError): HttpResponseInit {
  const error = forClient(original);
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
  if (kind === 'api') {
    return json(error.status, { error: error.code, message: error.message, ...error.details }, { headers });
  }
  return html(error.status, errorPage(error), { headers });
}

/**
 * Names the cause chain by kind and code only (`RestError 404 <- ...`; empty without a cause): SDK
 * error messages can quote request details.
 */
export function describeCause(cause: unknown, depth = 0): string {
  if (cause === undefined || cause === null || depth > 3) return '';
  if (typeof cause !== 'object') return typeof cause;
  const c = cause as { name?: unknown; code?: unknown; errorCode?: unknown; statusCode?: unknown; cause?: unknown };
  const parts = [c.name, c.code ?? c.errorCode, c.statusCode].filter((p) => typeof p === 'string' || typeof p === 'number');
  const inner = describeCause(c.cause, depth + 1);
  return `${parts.join(' ') || 'error'}${inner ? ` <- ${inner}` : ''}`;
}

import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { trace } from '@opentelemetry/api';
import { ErrorCode } from '../errors';
import { json } from '../http/responses';
import type { Services } from '../services';
import { READY_CACHE_MS, type DependencyName } from '../telemetry/readiness';

/** What each dependency is called in the 503's message. */
const DEPENDENCY_NAMES: Readonly<Record<DependencyName, string>> = {
  storage: 'Table Storage',
  key_vault: 'Key Vault',
  authority: "the Entra authority's metadata",
};

/**
 * GET /api/ready: 200 when Table Storage, Key Vault (when configured) and the authority answer;
 * else 503 not_ready with Retry-After, naming each failing dependency. Answers are cached a few
 * seconds per instance (telemetry/readiness.ts). /api/health is the dependency-free liveness probe.
 */
export async function ready(services: Services, _request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const report = await services.readiness.check();
  if (report.ready) return json(200, { status: 'ready', checks: report.checks });
  const span = trace.getActiveSpan();
  span?.setAttribute('app.error_code', ErrorCode.NOT_READY);
  const ids = span && trace.isSpanContextValid(span.spanContext()) ? { traceId: span.spanContext().traceId } : {};
  context.warn(JSON.stringify({ event: 'not_ready', function: context.functionName, invocationId: context.invocationId, code: ErrorCode.NOT_READY, status: 503, failing: report.failing, ...ids }));
  const retryAfter = Math.max(1, Math.ceil((report.checkedAt + READY_CACHE_MS - services.clock()) / 1000));
  return json(
    503,
    {
      error: ErrorCode.NOT_READY,
      message: `Not ready: ${report.failing.map((d) => DEPENDENCY_NAMES[d]).join(', ')} did not answer. Operators: see docs/operations.md ("Readiness failing").`,
      failing: report.failing,
      checks: report.checks,
    },
    { headers: { 'Retry-After': String(retryAfter) } },
  );
}

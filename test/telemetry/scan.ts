/**
 * Scans exported telemetry for what must never be in it: every attribute of every span (and its
 * events and resource) and of every metric point, keys and values.
 *
 * - no value contains one of the `forbidden` strings (the test's secrets, cookies, users' e-mail
 *   addresses, names, passwords and object ids);
 * - no value looks like a JWT (`eyJ...`), contains an `@` or a URL with a path or query, or is longer
 *   than 64 characters (a refresh token, an authorization code or a sealed cookie would be);
 * - every attribute key is one of the documented ones (docs/operations.md), so a new attribute is
 *   a decision, not an accident.
 */
import type { Attributes } from '@opentelemetry/api';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

const ALLOWED_KEYS = new Set([
  // request spans and the request-duration histogram
  'http.request.method',
  'http.route',
  'http.response.status_code',
  'faas.invocation_id',
  'app.error_code',
  'enduser.pseudo.id',
  // client spans and the latency histograms
  'server.address',
  'db.system.name',
  'db.collection.name',
  'db.operation.name',
  'bff.entra.operation',
  'oauth.grant_type',
  'error.type',
  'outcome',
  // readiness
  'bff.dependency',
  'bff.readiness.result',
  'dependency',
  // counters
  'reason',
  'source',
  'oauth.error',
  'cause',
  'kind',
]);

/** Resource attributes the SDK sets itself (service, SDK and process identity; no user data). */
const RESOURCE_KEY = /^(service|telemetry\.sdk|process|host|os)\./;

const JWT = /eyJ[A-Za-z0-9_-]{8,}/;

export function scanAttributes(spans: readonly ReadableSpan[], metrics: readonly ResourceMetrics[], forbidden: readonly string[]): string[] {
  const problems: string[] = [];
  const needles = forbidden.filter((f) => f.length >= 4);
  const check = (where: string, attributes: Attributes, allowKey: (key: string) => boolean): void => {
    for (const [key, raw] of Object.entries(attributes)) {
      if (!allowKey(key)) problems.push(`${where}: undocumented attribute key ${key}`);
      const values = Array.isArray(raw) ? raw : [raw];
      for (const value of values) {
        const text = String(value);
        for (const needle of needles) if (text.includes(needle) || key.includes(needle)) problems.push(`${where}: ${key} holds a forbidden value`);
        if (JWT.test(text)) problems.push(`${where}: ${key} looks like a JWT`);
        if (text.includes('@')) problems.push(`${where}: ${key} holds an @`);
        if (/https?:\/\/[^\s/]+\/\S/.test(text) || text.includes('?')) problems.push(`${where}: ${key} holds a URL path or query`);
        if (text.length > 64) problems.push(`${where}: ${key} is ${text.length} characters long`);
      }
    }
  };
  for (const span of spans) {
    const where = `span "${span.name}"`;
    for (const needle of needles) if (span.name.includes(needle)) problems.push(`${where}: the name holds a forbidden value`);
    if (span.name.includes('@') || span.name.includes('?')) problems.push(`${where}: the name holds an @ or a query`);
    check(where, span.attributes, (k) => ALLOWED_KEYS.has(k));
    for (const event of span.events) check(`${where} event ${event.name}`, event.attributes ?? {}, (k) => ALLOWED_KEYS.has(k));
    check(`${where} resource`, span.resource.attributes, (k) => RESOURCE_KEY.test(k));
  }
  for (const resourceMetrics of metrics) {
    check('metric resource', resourceMetrics.resource.attributes, (k) => RESOURCE_KEY.test(k));
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints) check(`metric ${metric.descriptor.name}`, point.attributes, (k) => ALLOWED_KEYS.has(k));
      }
    }
  }
  return [...new Set(problems)];
}

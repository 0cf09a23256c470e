/**
 * The telemetry pieces on their own: which settings start the SDK, the W3C traceparent sent to
 * Graph, readiness's cache and timeouts, the console summary, and the attribute scan itself.
 */
import { context, SpanKind, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { GraphMailClient } from '../../src/graph/mail-client';
import { Readiness } from '../../src/telemetry/readiness';
import { RequestSummary } from '../../src/telemetry/sdk';
import { azureMonitorIdentity, telemetryExporters } from '../../src/telemetry/settings';
import { startTelemetryIfConfigured } from '../../src/telemetry/start';
import { startTestTelemetry, type TestTelemetry } from './harness';
import { scanAttributes } from './scan';

describe('telemetry settings', () => {
  it('start nothing unless an exporter is named, and nothing at all with OTEL_SDK_DISABLED=true', () => {
    expect(telemetryExporters({})).toBeUndefined();
    expect(telemetryExporters({ OTEL_SERVICE_NAME: 'x', OTEL_METRIC_EXPORT_INTERVAL: '1000' })).toBeUndefined();
    expect(telemetryExporters({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toEqual({ azureMonitor: false, otlpTraces: true, otlpMetrics: true, consoleSummary: false });
    expect(telemetryExporters({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_EXPORTER: 'none' })).toEqual({
      azureMonitor: false,
      otlpTraces: false,
      otlpMetrics: true,
      consoleSummary: false,
    });
    expect(telemetryExporters({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://c/v1/metrics' })).toEqual({ azureMonitor: false, otlpTraces: false, otlpMetrics: true, consoleSummary: false });
    expect(telemetryExporters({ APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=x' })?.azureMonitor).toBe(true);
    expect(telemetryExporters({ OTEL_TRACES_EXPORTER: 'console' })?.consoleSummary).toBe(true);
    expect(telemetryExporters({ APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=x', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_SDK_DISABLED: 'TRUE' })).toBeUndefined();
  });

  it('read the Entra identity for Application Insights from its authentication string', () => {
    expect(azureMonitorIdentity({})).toBeUndefined();
    expect(azureMonitorIdentity({ APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=0b6f3a52-0000-4000-8000-000000000001;Authorization=AAD' })).toBe('0b6f3a52-0000-4000-8000-000000000001');
    expect(azureMonitorIdentity({ APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD' })).toBe('');
    expect(azureMonitorIdentity({ APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=x;Authorization=Other' })).toBeUndefined();
  });

  it('with nothing configured, the SDK is not started: spans do not record', () => {
    startTelemetryIfConfigured({});
    const span = trace.getTracer('t').startSpan('x');
    expect(span.isRecording()).toBe(false);
    span.end();
  });
});

describe('with the SDK on', () => {
  let telemetry: TestTelemetry;
  beforeAll(() => {
    telemetry = startTestTelemetry();
  });
  afterAll(() => telemetry.stop());
  beforeEach(() => telemetry.spans.reset());

  it('a Graph request carries the W3C traceparent of its own span, and no span holds the bearer token or the query', async () => {
    const seen: Headers[] = [];
    const graph = new GraphMailClient({
      endpoint: 'https://graph.test/',
      fetch: async (_url, init) => {
        seen.push(new Headers(init?.headers));
        return new Response(JSON.stringify({ value: [] }), { status: 200, headers: { 'content-type': 'application/json' } });
      },
    });
    await trace.getTracer('t').startActiveSpan('GET /api/mail', { kind: SpanKind.SERVER }, async (server) => {
      await graph.listMessages('token-value-ey0123456789', 'mailbox', { top: 5, unreadOnly: true });
      server.end();
    });
    const graphSpan = telemetry.finished().find((s) => s.name === 'graph GET')!;
    const { traceId, spanId } = graphSpan.spanContext();
    expect(seen[0]!.get('traceparent')).toBe(`00-${traceId}-${spanId}-01`);
    expect(seen[0]!.get('authorization')).toBe('Bearer token-value-ey0123456789');
    expect(graphSpan.attributes).toEqual({ 'http.request.method': 'GET', 'server.address': 'graph.test', 'http.response.status_code': 200 });
  });

  it('readiness asks each dependency once per 5 s, however many probes, and reports a hung one as a timeout', async () => {
    let now = 1_000_000;
    const calls = { storage: 0, authority: 0 };
    const readiness = new Readiness({
      clock: () => now,
      timeoutMs: 50,
      checks: {
        storage: async () => void calls.storage++,
        authority: async (signal) => {
          calls.authority++;
          await new Promise((resolve) => setTimeout(resolve, 10_000).unref());
          signal.throwIfAborted();
        },
      },
    });
    const reports = await Promise.all(Array.from({ length: 20 }, () => readiness.check()));
    expect(calls).toEqual({ storage: 1, authority: 1 });
    expect(reports[0]).toEqual({ ready: false, checks: { storage: 'ok', authority: 'timeout' }, failing: ['authority'], checkedAt: now });
    now += 4_999;
    await readiness.check();
    expect(calls).toEqual({ storage: 1, authority: 1 });
    now += 1;
    await readiness.check();
    expect(calls).toEqual({ storage: 2, authority: 2 });
  });

  it('a failed check is "failed", with the error kind on its span', async () => {
    const readiness = new Readiness({ checks: { storage: async () => Promise.reject(Object.assign(new Error('secret detail'), { name: 'RestError' })) } });
    expect(await readiness.check()).toMatchObject({ ready: false, checks: { storage: 'failed' }, failing: ['storage'] });
    const span = telemetry.finished().find((s) => s.name === 'readiness storage')!;
    expect(span.attributes).toEqual({ 'bff.dependency': 'storage', 'error.type': 'RestError', 'bff.readiness.result': 'failed' });
  });

  it('the console summary prints one line per request with its dependency calls', () => {
    const lines: string[] = [];
    const summary = new RequestSummary((line) => lines.push(line));
    const tracer = trace.getTracer('t');
    const server = tracer.startSpan('GET /api/mail', { kind: SpanKind.SERVER });
    const inside = trace.setSpan(context.active(), server);
    const child = (name: string): ReadableSpan => {
      const span = tracer.startSpan(name, { kind: SpanKind.CLIENT }, inside);
      span.end();
      return span as unknown as ReadableSpan;
    };
    summary.onStart(server as never);
    for (const name of ['storage read', 'graph GET', 'storage write']) summary.onEnd(child(name));
    server.setAttribute('http.response.status_code', 200);
    server.end();
    summary.onEnd(server as unknown as ReadableSpan);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^GET /api/mail 200 \\d+\\.\\d ms storage 2 entra 0 graph 1 key_vault 0 trace ${server.spanContext().traceId}$`));
  });
});

describe('the attribute scan', () => {
  const span = (attributes: Record<string, string | number>): ReadableSpan =>
    ({ name: 'GET /api/mail', attributes, events: [], resource: { attributes: { 'service.name': 'inbox-glance' } } }) as unknown as ReadableSpan;

  it('passes clean attributes and catches each kind of leak', () => {
    expect(scanAttributes([span({ 'http.route': '/api/mail', 'http.response.status_code': 200 })], [], ['s3cret-value'])).toEqual([]);
    expect(scanAttributes([span({ 'http.route': 'x s3cret-value' })], [], ['s3cret-value'])).toEqual(['span "GET /api/mail": http.route holds a forbidden value']);
    expect(scanAttributes([span({ reason: 'adele@contoso.test' })], [], [])).toEqual(['span "GET /api/mail": reason holds an @']);
    expect(scanAttributes([span({ reason: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0' })], [], [])).toEqual(['span "GET /api/mail": reason looks like a JWT']);
    expect(scanAttributes([span({ 'url.full': '/api/mail' })], [], [])).toEqual(['span "GET /api/mail": undocumented attribute key url.full']);
    expect(scanAttributes([span({ 'server.address': 'https://graph.test/v1.0/me/messages' })], [], [])).toEqual([
      'span "GET /api/mail": server.address holds a URL path or query',
    ]);
    expect(scanAttributes([span({ cause: 'x'.repeat(65) })], [], [])).toEqual(['span "GET /api/mail": cause is 65 characters long']);
  });
});

/**
 * The OpenTelemetry SDK of the app: one TracerProvider and one MeterProvider, registered globally,
 * exporting to whatever the settings name (telemetry/settings.ts):
 *
 * - Application Insights (APPLICATIONINSIGHTS_CONNECTION_STRING) through
 *   @azure/monitor-opentelemetry-exporter, with an Entra token of the managed identity when
 *   APPLICATIONINSIGHTS_AUTHENTICATION_STRING says `Authorization=AAD` (the component refuses
 *   instrumentation-key ingestion);
 * - any collector over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT, or the per-signal endpoints), traces
 *   and metrics;
 * - a one-line summary per request on stderr (OTEL_TRACES_EXPORTER=console), for local use.
 *
 * The standard OTEL_* variables apply: the OTLP exporters read their endpoints, headers and timeouts,
 * the batch span processor OTEL_BSP_*, the tracer provider OTEL_TRACES_SAMPLER(_ARG), the resource
 * OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; OTEL_METRIC_EXPORT_INTERVAL and
 * OTEL_METRIC_EXPORT_TIMEOUT are read here.
 *
 * Why not @azure/monitor-opentelemetry's useAzureMonitor(): it starts the whole Node SDK with
 * auto-instrumentations, which patch modules through require hooks. That only works when it loads
 * before everything else, the opposite of what cold start needs here (this bundle loads after the
 * first request that needs the services), and the deployed package is self-contained bundles with no
 * node_modules for the hooks to patch. The app records its own spans instead (a server span per
 * request, a client span per storage, Entra, Graph and Key Vault call) and exports them with the
 * same exporter useAzureMonitor() uses.
 *
 * This module is its own bundle (dist/telemetry.js, see scripts/build.mjs), required by
 * telemetry/start.ts only when an exporter is configured.
 */
import { context, metrics, propagation, trace, SpanKind } from '@opentelemetry/api';
import type { TokenCredential } from '@azure/core-auth';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type Span, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { TelemetryExporters } from './settings';

type Env = Readonly<Record<string, string | undefined>>;

export interface TelemetryOptions {
  readonly env?: Env;
  readonly exporters?: TelemetryExporters;
  readonly azureMonitorCredential?: TokenCredential;
  /** More span processors (tests: a SimpleSpanProcessor over an InMemorySpanExporter). */
  readonly spanProcessors?: readonly SpanProcessor[];
  /** More metric readers (tests: a PeriodicExportingMetricReader over an InMemoryMetricExporter). */
  readonly metricReaders?: readonly MetricReader[];
}

export interface Telemetry {
  /** Exports whatever is buffered now (spans and metrics). */
  flush(): Promise<void>;
  /** Flushes, stops the exporters and unregisters the providers (the API's no-ops again). */
  shutdown(): Promise<void>;
}

let running: Telemetry | undefined;

/** Starts the SDK once per process; a second call returns the running one. */
export function startTelemetry(options: TelemetryOptions = {}): Telemetry {
  if (running) return running;
  const env = options.env ?? process.env;
  const exporters = options.exporters ?? { azureMonitor: false, otlpTraces: false, otlpMetrics: false, consoleSummary: false };
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'inbox-glance' }))
    .merge(detectResources({ detectors: [envDetector] }));

  const spanExporters: SpanExporter[] = [];
  const metricExporters: PushMetricExporter[] = [];
  if (exporters.azureMonitor) {
    // Loaded only when used: the exporter and its Azure pipeline are most of this bundle's start-up.
    const monitor = require('@azure/monitor-opentelemetry-exporter') as typeof import('@azure/monitor-opentelemetry-exporter');
    const monitorOptions = {
      connectionString: env['APPLICATIONINSIGHTS_CONNECTION_STRING']!,
      ...(options.azureMonitorCredential ? { credential: options.azureMonitorCredential } : {}),
    };
    spanExporters.push(new monitor.AzureMonitorTraceExporter(monitorOptions));
    metricExporters.push(new monitor.AzureMonitorMetricExporter(monitorOptions));
  }
  if (exporters.otlpTraces) {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    spanExporters.push(new OTLPTraceExporter());
  }
  if (exporters.otlpMetrics) {
    const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http') as typeof import('@opentelemetry/exporter-metrics-otlp-http');
    metricExporters.push(new OTLPMetricExporter());
  }

  const spanProcessors: SpanProcessor[] = [...spanExporters.map((e) => new BatchSpanProcessor(e)), ...(options.spanProcessors ?? [])];
  if (exporters.consoleSummary) spanProcessors.push(new RequestSummary((line) => process.stderr.write(`${line}\n`)));
  const exportIntervalMillis = positive(env['OTEL_METRIC_EXPORT_INTERVAL']) ?? 60_000;
  const exportTimeoutMillis = Math.min(positive(env['OTEL_METRIC_EXPORT_TIMEOUT']) ?? 30_000, exportIntervalMillis);
  const readers: MetricReader[] = [
    ...metricExporters.map((exporter) => new PeriodicExportingMetricReader({ exporter, exportIntervalMillis, exportTimeoutMillis })),
    ...(options.metricReaders ?? []),
  ];

  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors });
  const meterProvider = new MeterProvider({ resource, readers });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);

  const flush = async (): Promise<void> => {
    await Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush()]);
  };
  running = {
    flush,
    shutdown: async () => {
      await flush().catch(() => {});
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
      running = undefined;
    },
  };
  return running;
}

function positive(text: string | undefined): number | undefined {
  const n = Number(text);
  return text !== undefined && text.trim() !== '' && Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * `OTEL_TRACES_EXPORTER=console`: one line per request when its server span ends, such as
 * `GET /api/mail 200 57.3 ms storage 1 entra 0 graph 1 key_vault 0 trace 4bf92f35...`.
 * Only the span names' first word is counted, so the line carries nothing a span does not.
 */
export class RequestSummary implements SpanProcessor {
  readonly #children = new Map<string, Record<string, number>>();

  constructor(private readonly write: (line: string) => void) {}

  onStart(span: Span): void {
    if (span.kind === SpanKind.SERVER) this.#children.set(span.spanContext().traceId, {});
  }

  onEnd(span: ReadableSpan): void {
    const traceId = span.spanContext().traceId;
    const counts = this.#children.get(traceId);
    if (!counts) return;
    if (span.kind !== SpanKind.SERVER) {
      const dependency = span.name.split(' ')[0] ?? 'other';
      counts[dependency] = (counts[dependency] ?? 0) + 1;
      return;
    }
    this.#children.delete(traceId);
    const ms = span.duration[0] * 1000 + span.duration[1] / 1e6;
    const status = span.attributes['http.response.status_code'] ?? '-';
    const deps = ['storage', 'entra', 'graph', 'key_vault'].map((d) => `${d} ${counts[d] ?? 0}`).join(' ');
    this.write(`${span.name} ${status} ${ms.toFixed(1)} ms ${deps} trace ${traceId}`);
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.#children.clear();
    return Promise.resolve();
  }
}


/**
 * The app's OpenTelemetry SDK (src/telemetry/sdk.ts) started with in-memory exporters: every span
 * as it ends (SimpleSpanProcessor over an InMemorySpanExporter), and metrics on demand (a
 * PeriodicExportingMetricReader over an InMemoryMetricExporter with delta temporality, flushed by
 * the test: each flush returns what was recorded since the previous one).
 */
import type { Attributes } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, InMemoryMetricExporter, PeriodicExportingMetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTelemetry, type Telemetry } from '../../src/telemetry/sdk';

export interface MetricPoint {
  readonly name: string;
  readonly unit: string;
  readonly attributes: Attributes;
  /** The sum for counters; the count of recordings for histograms. */
  readonly value: number;
}

export interface TestTelemetry {
  readonly spans: InMemorySpanExporter;
  /** Spans ended since the last reset, oldest first. */
  finished(): ReadableSpan[];
  /** Every span ended since the start (resets do not clear it), for the attribute scan. */
  everySpan(): ReadableSpan[];
  /** Metric points recorded since the previous call. */
  metricPoints(): Promise<MetricPoint[]>;
  /** Every ResourceMetrics exported so far (for the attribute scan). */
  exportedMetrics(): ResourceMetrics[];
  stop(): Promise<void>;
}

export function startTestTelemetry(): TestTelemetry {
  const spans = new InMemorySpanExporter();
  const allSpans = new InMemorySpanExporter();
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const telemetry: Telemetry = startTelemetry({ env: {}, spanProcessors: [new SimpleSpanProcessor(spans), new SimpleSpanProcessor(allSpans)], metricReaders: [reader] });
  const all: ResourceMetrics[] = [];
  return {
    spans,
    finished: () => spans.getFinishedSpans(),
    everySpan: () => allSpans.getFinishedSpans(),
    async metricPoints() {
      await reader.forceFlush();
      const exported = metricExporter.getMetrics();
      metricExporter.reset();
      all.push(...exported);
      const points: MetricPoint[] = [];
      for (const resourceMetrics of exported) {
        for (const scope of resourceMetrics.scopeMetrics) {
          for (const metric of scope.metrics) {
            for (const point of metric.dataPoints) {
              const value = metric.dataPointType === DataPointType.HISTOGRAM ? (point.value as { count: number }).count : (point.value as number);
              if (value !== 0) points.push({ name: metric.descriptor.name, unit: metric.descriptor.unit, attributes: point.attributes, value });
            }
          }
        }
      }
      return points;
    },
    exportedMetrics: () => all,
    stop: () => telemetry.shutdown(),
  };
}

/** The sum of a metric's points whose attributes include `match`. */
export function total(points: readonly MetricPoint[], name: string, match: Attributes = {}): number {
  return points
    .filter((p) => p.name === name && Object.entries(match).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + p.value, 0);
}

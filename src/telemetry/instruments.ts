/**
 * The app's metrics and its tracer, through @opentelemetry/api only: what the request path loads.
 * The SDK and its exporters are started elsewhere (telemetry/sdk.ts, its own bundle, loaded only
 * when an exporter is configured); until then, and when nothing is configured, every instrument is
 * the API's no-op and a span is a non-recording one, so recording costs a function call.
 *
 * Names and units are documented in docs/operations.md; keep the two in step. Attribute values are
 * closed sets (an outcome, a source, an OAuth error code, a route name), never request data: no
 * token, code, cookie, secret, key material, e-mail address or name ever goes into one.
 */
import { metrics, trace, type Counter, type Histogram, type MeterProvider, type Tracer, type TracerProvider } from '@opentelemetry/api';

/** The instrumentation scope of every span and metric the app records. */
export const SCOPE = 'inbox-glance';

/** Metric names (docs/operations.md lists them with their attributes). */
export const METRIC = {
  requestDuration: 'http.server.request.duration',
  signIns: 'bff.sign_ins',
  tokenAcquisitions: 'bff.token.acquisitions',
  refreshRedemptions: 'bff.refresh.redemptions',
  leaseWaits: 'bff.lease.waits',
  leaseTimeouts: 'bff.lease.timeouts',
  forcedSignIns: 'bff.forced_sign_ins',
  graphThrottles: 'bff.graph.throttles',
  graphRetries: 'bff.graph.retries',
  keyVaultReads: 'bff.key_vault.reads',
  sweepDeleted: 'bff.sweep.deleted',
  sweepRuns: 'bff.sweep.runs',
  readinessChecks: 'bff.readiness.checks',
  storageDuration: 'bff.storage.duration',
  entraDuration: 'bff.entra.duration',
  graphDuration: 'bff.graph.duration',
  keyVaultDuration: 'bff.key_vault.duration',
} as const;

/** Bucket bounds in seconds for every latency histogram: 1 ms to 10 s. */
export const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

export interface Instruments {
  readonly requestDuration: Histogram;
  readonly signIns: Counter;
  readonly tokenAcquisitions: Counter;
  readonly refreshRedemptions: Counter;
  readonly leaseWaits: Counter;
  readonly leaseTimeouts: Counter;
  readonly forcedSignIns: Counter;
  readonly graphThrottles: Counter;
  readonly graphRetries: Counter;
  readonly keyVaultReads: Counter;
  readonly sweepDeleted: Counter;
  readonly sweepRuns: Counter;
  readonly readinessChecks: Counter;
  readonly storageDuration: Histogram;
  readonly entraDuration: Histogram;
  readonly graphDuration: Histogram;
  readonly keyVaultDuration: Histogram;
}

function create(provider: MeterProvider): Instruments {
  const meter = provider.getMeter(SCOPE);
  const seconds = (name: string, description: string): Histogram =>
    meter.createHistogram(name, { unit: 's', description, advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S } });
  const count = (name: string, unit: string, description: string): Counter => meter.createCounter(name, { unit, description });
  return {
    requestDuration: seconds(METRIC.requestDuration, 'Requests by route, method and status'),
    signIns: count(METRIC.signIns, '{sign_in}', 'Completed sign-ins: outcome ok, or failed with a reason'),
    tokenAcquisitions: count(METRIC.tokenAcquisitions, '{acquisition}', 'Access tokens handed out, by source: memory, storage or refreshed'),
    refreshRedemptions: count(METRIC.refreshRedemptions, '{redemption}', 'Refresh tokens redeemed at Entra: ok, or failed with the OAuth error'),
    leaseWaits: count(METRIC.leaseWaits, '{wait}', 'Requests that waited for another request\'s refresh lease'),
    leaseTimeouts: count(METRIC.leaseTimeouts, '{timeout}', 'Requests that gave up waiting for a refresh lease (503)'),
    forcedSignIns: count(METRIC.forcedSignIns, '{response}', 'login_required answers to a signed-in user, by cause'),
    graphThrottles: count(METRIC.graphThrottles, '{response}', 'Graph answers 429'),
    graphRetries: count(METRIC.graphRetries, '{retry}', 'Graph calls retried (throttling, 5xx, network)'),
    keyVaultReads: count(METRIC.keyVaultReads, '{read}', 'Key Vault secret reads: ok or failed'),
    sweepDeleted: count(METRIC.sweepDeleted, '{item}', 'What the sweep deleted, by kind'),
    sweepRuns: count(METRIC.sweepRuns, '{run}', 'Sweep runs: ok or failed'),
    readinessChecks: count(METRIC.readinessChecks, '{check}', 'Readiness checks of a dependency: ok or failed'),
    storageDuration: seconds(METRIC.storageDuration, 'Table Storage round trips'),
    entraDuration: seconds(METRIC.entraDuration, 'Entra token and metadata requests'),
    graphDuration: seconds(METRIC.graphDuration, 'Microsoft Graph requests'),
    keyVaultDuration: seconds(METRIC.keyVaultDuration, 'Key Vault secret reads'),
  };
}

let current: { provider: MeterProvider; instruments: Instruments } | undefined;

/**
 * The instruments of the global MeterProvider. The API has no proxy for meters (an instrument made
 * before the SDK is registered stays a no-op), so they are made again when the provider changes.
 */
export function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (current?.provider !== provider) current = { provider, instruments: create(provider) };
  return current.instruments;
}

let currentTracer: { provider: TracerProvider; tracer: Tracer } | undefined;

/**
 * The app's tracer (the API's proxy: spans record once the SDK registers a provider). Kept per
 * global TracerProvider, as the instruments are: the API's getTracer makes a new proxy tracer on
 * every call until an SDK is registered, and this runs for every span on the request path.
 */
export function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (currentTracer?.provider !== provider) currentTracer = { provider, tracer: provider.getTracer(SCOPE) };
  return currentTracer.tracer;
}

/** Seconds since `startMs` (performance.now() based), for the latency histograms. */
export function secondsSince(startMs: number): number {
  return (performance.now() - startMs) / 1000;
}

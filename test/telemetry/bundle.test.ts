/**
 * The built bundles with an OTLP endpoint set, as `node dist/serve.js` runs them: /api/health alone
 * never loads the SDK (nothing reaches the collector), the first request that needs the services
 * loads dist/telemetry.js, and traces and metrics then arrive over OTLP/HTTP at the intervals the
 * standard OTEL_* variables set.
 */
import { startOtlpSink, type OtlpSink } from '../../bench/otlp-sink';
import { emulators } from '../support/emulators';
import { buildApp, startInstances, stopInstances, type Instance } from '../support/instances';

let sink: OtlpSink;
let instance: Instance | undefined;

beforeAll(async () => {
  buildApp();
  sink = await startOtlpSink();
  [instance] = await startInstances(1, {
    env: { ...emulators().env, OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_METRIC_EXPORT_INTERVAL: '300', OTEL_BSP_SCHEDULE_DELAY: '100' },
  });
}, 90_000);

afterAll(async () => {
  await stopInstances([instance]);
  await sink?.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('health loads no SDK; the first services request starts it and both signals reach the collector', async () => {
  expect((await fetch(`${instance!.url}/api/health`)).status).toBe(200);
  await sleep(1_000);
  expect(sink.stats).toEqual({ traces: 0, metrics: 0, logs: 0, bytes: 0 });

  const ready = await fetch(`${instance!.url}/api/ready`);
  expect({ status: ready.status, body: await ready.json() }).toEqual({ status: 200, body: { status: 'ready', checks: { storage: 'ok', authority: 'ok' } } });
  const deadline = Date.now() + 10_000;
  while ((sink.stats.traces === 0 || sink.stats.metrics === 0) && Date.now() < deadline) await sleep(100);
  expect(sink.stats.traces).toBeGreaterThanOrEqual(1);
  expect(sink.stats.metrics).toBeGreaterThanOrEqual(1);
  expect(instance!.output()).not.toContain('telemetry_start_failed');
});

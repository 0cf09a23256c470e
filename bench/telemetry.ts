/**
 * What telemetry costs: the app with OpenTelemetry on (exporting traces and metrics over OTLP/HTTP to
 * a local sink, bench/otlp-sink.ts) beside the same app with it off, both as child processes
 * (`node dist/serve.js`) on the same emulators, storage proxy and users.
 *
 * - throughput: warm /api/mail at concurrency 64, the two sides alternating (off, on, off, on) so
 *   drift in the machine's load hits both; each side's figure is over all its requests;
 * - cold start: spawn -> first 200 of /api/health (the SDK must not load for it), and spawn -> first
 *   200 of /api/mail (where the services load, and with telemetry on the SDK too).
 *
 * Metrics are exported every second and spans every second (OTEL_METRIC_EXPORT_INTERVAL,
 * OTEL_BSP_SCHEDULE_DELAY), far more often than the 60 s / 5 s defaults, so the exporting is inside
 * the measured runs.
 */
import type { Driver } from './driver';
import { median, percentile } from './load';
import { startOtlpSink, type OtlpSinkStats } from './otlp-sink';
import { msUntil200, serve, type Served } from './processes';

export interface TelemetrySide {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non200: number;
  readonly healthMs: number;
  readonly mailMs: number;
}

export interface TelemetryCost {
  readonly concurrency: number;
  readonly off: TelemetrySide;
  readonly on: TelemetrySide;
  /** on / off requests per second at `concurrency`. */
  readonly throughputRatio: number;
  /** What the on side sent to the sink during the whole phase. */
  readonly exported: OtlpSinkStats;
}

export interface TelemetryCostOptions {
  readonly serveScript: string;
  readonly env: Record<string, string>;
  readonly driver: Driver;
  readonly cookies: readonly string[];
  readonly mailPath: string;
  /** Measured requests per side, split over two rounds. */
  readonly requests: number;
  readonly concurrency: number;
  readonly coldRuns: number;
  readonly log: (message: string) => void;
}

export async function measureTelemetryCost(options: TelemetryCostOptions): Promise<TelemetryCost> {
  const { serveScript, env, driver, cookies, mailPath, concurrency, log } = options;
  const sink = await startOtlpSink();
  const offEnv = { ...env, OTEL_SDK_DISABLED: 'true' };
  const onEnv = { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_METRIC_EXPORT_INTERVAL: '1000', OTEL_BSP_SCHEDULE_DELAY: '1000' };
  try {
    // Cold start, on and off in turn.
    const cold = { off: { health: [] as number[], mail: [] as number[] }, on: { health: [] as number[], mail: [] as number[] } };
    for (let run = 0; run < options.coldRuns; run++) {
      for (const side of ['off', 'on'] as const) {
        const child = await serve(serveScript, side === 'on' ? onEnv : offEnv);
        try {
          cold[side].health.push(await msUntil200(child, '/api/health'));
          cold[side].mail.push(await msUntil200(child, mailPath, { cookie: cookies[run % cookies.length]! }));
        } finally {
          await child.stop();
        }
      }
    }

    // Throughput: both children up, warmed, then measured in alternating rounds.
    const off = await serve(serveScript, offEnv);
    const on = await serve(serveScript, onEnv);
    try {
      const sides: Record<'off' | 'on', Served> = { off, on };
      await Promise.all([msUntil200(off, '/api/health'), msUntil200(on, '/api/health')]);
      let offset = 0;
      for (const side of ['off', 'on'] as const) {
        await driver.load({ baseUrl: sides[side].url, path: mailPath, cookies, offset, total: Math.max(cookies.length, 4 * concurrency), concurrency });
      }
      const perRound = Math.ceil(options.requests / 2);
      const latencies = { off: [] as number[], on: [] as number[] };
      const totals = { off: { requests: 0, ms: 0, ok: 0 }, on: { requests: 0, ms: 0, ok: 0 } };
      for (const round of [0, 1]) {
        for (const side of round === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
          log(`telemetry ${side}: ${perRound} requests at concurrency ${concurrency}`);
          const run = await driver.load({ baseUrl: sides[side].url, path: mailPath, cookies, offset, total: perRound, concurrency });
          offset += perRound;
          latencies[side].push(...run.load.latencies);
          totals[side].requests += perRound;
          totals[side].ms += (perRound / run.load.requestsPerSecond) * 1000;
          totals[side].ok += run.load.statuses['200'] ?? 0;
        }
      }
      const figures = (side: 'off' | 'on'): TelemetrySide => {
        const sorted = [...latencies[side]].sort((a, b) => a - b);
        return {
          requests: totals[side].requests,
          requestsPerSecond: (totals[side].requests / totals[side].ms) * 1000,
          p50Ms: percentile(sorted, 50),
          p99Ms: percentile(sorted, 99),
          non200: totals[side].requests - totals[side].ok,
          healthMs: median(cold[side].health),
          mailMs: median(cold[side].mail),
        };
      };
      // Let the last spans and metrics of the on side reach the sink before it is read.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const result = { concurrency, off: figures('off'), on: figures('on'), exported: { ...sink.stats } };
      return { ...result, throughputRatio: result.on.requestsPerSecond / result.off.requestsPerSecond };
    } finally {
      await Promise.all([off.stop(), on.stop()]);
    }
  } finally {
    await sink.stop();
  }
}

/** The report's section. `helloHealthMs`: the hello-world bundle's cold start measured in the same run. */
export function formatTelemetryCost(t: TelemetryCost, helloHealthMs: number): string {
  const row = (name: string, s: TelemetrySide): string =>
    `| ${name} | ${s.requestsPerSecond.toFixed(0)} | ${s.p50Ms.toFixed(1)} | ${s.p99Ms.toFixed(1)} | ${s.non200} | ${s.healthMs.toFixed(0)} (${(s.healthMs / helloHealthMs).toFixed(2)}x) | ${s.mailMs.toFixed(0)} |`;
  return [
    '',
    `## Telemetry on vs off (c=${t.concurrency}, OTLP/HTTP to a local sink)`,
    '',
    '| telemetry | req/s | p50 ms | p99 ms | non-200 | cold start to /api/health ms (vs hello-world) | cold start to /api/mail ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
    row('off', t.off),
    row('on', t.on),
    '',
    `Throughput on/off: ${t.throughputRatio.toFixed(2)}x. Exported by the on side: ${t.exported.traces} trace and ${t.exported.metrics} metric requests, ${(t.exported.bytes / 1024).toFixed(0)} KiB.`,
    '',
  ].join('\n');
}

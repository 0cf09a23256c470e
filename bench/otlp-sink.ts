/**
 * A local OTLP/HTTP sink: accepts what an OpenTelemetry exporter posts to /v1/traces, /v1/metrics
 * and /v1/logs, answers 200 (an empty export response), and counts requests and bytes. The bench
 * points the app's OTEL_EXPORTER_OTLP_ENDPOINT at it; nothing is decoded or kept.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpSinkStats {
  traces: number;
  metrics: number;
  logs: number;
  bytes: number;
}

export interface OtlpSink {
  /** http://127.0.0.1:<port>, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string;
  readonly stats: OtlpSinkStats;
  stop(): Promise<void>;
}

export async function startOtlpSink(): Promise<OtlpSink> {
  const stats: OtlpSinkStats = { traces: 0, metrics: 0, logs: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => {
      stats.bytes += chunk.length;
    });
    req.on('end', () => {
      const signal = req.url?.replace(/\/+$/, '').split('/').pop();
      if (req.method === 'POST' && (signal === 'traces' || signal === 'metrics' || signal === 'logs')) {
        stats[signal]++;
        res.writeHead(200, { 'content-type': String(req.headers['content-type'] ?? 'application/x-protobuf') });
        res.end();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

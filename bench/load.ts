/**
 * A closed-loop HTTP load generator: `concurrency` workers, each sending its next request as soon
 * as its previous one answered, over keep-alive connections (one per worker), until `total`
 * requests were sent. Latency is measured per request from send to the last byte of the answer.
 */
import { Agent, request } from 'node:http';

export interface LoadSpec {
  /** Base URL of the server (http://127.0.0.1:port). */
  readonly baseUrl: string;
  readonly total: number;
  readonly concurrency: number;
  /** Path and cookie of the i-th request. */
  readonly request: (i: number) => { readonly path: string; readonly cookie?: string };
  /** Called before / after each request (per-request accounting at concurrency 1). */
  readonly before?: (i: number) => void;
  readonly after?: (i: number, status: number) => void;
  /** Connections to use (and leave open) instead of new ones that are closed at the end. */
  readonly agent?: Agent;
}

export interface LoadResult {
  readonly requests: number;
  readonly statuses: Record<string, number>;
  readonly durationMs: number;
  readonly requestsPerSecond: number;
  readonly latency: LatencySummary;
  /** Every latency, ms (kept for derived figures; not written to results.json). */
  readonly latencies: readonly number[];
}

export interface LatencySummary {
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const url = new URL(spec.baseUrl);
  const agent = spec.agent ?? newAgent(spec.concurrency);
  const latencies: number[] = new Array<number>(spec.total);
  const statuses: Record<string, number> = {};
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= spec.total) return;
      const { path, cookie } = spec.request(i);
      spec.before?.(i);
      const t0 = process.hrtime.bigint();
      const status = await send(agent, url, path, cookie);
      latencies[i] = Number(process.hrtime.bigint() - t0) / 1e6;
      statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
      spec.after?.(i, status);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(spec.concurrency, spec.total) }, worker));
  } finally {
    if (!spec.agent) agent.destroy();
  }
  const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
  return {
    requests: spec.total,
    statuses,
    durationMs,
    requestsPerSecond: spec.total / (durationMs / 1000),
    latency: summarize(latencies),
    latencies,
  };
}

/**
 * Keep-alive connections for `concurrency` workers. An idle connection is closed after 2 s, before
 * the server under test would close it (its keep-alive timeout is 5 s), so a request never races
 * the server's close of the connection it reuses.
 */
export function newAgent(concurrency: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency, timeout: 2_000 });
}

function send(agent: Agent, base: URL, path: string, cookie: string | undefined): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      { host: base.hostname, port: base.port, path, method: 'GET', agent, headers: cookie ? { cookie } : {} },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('error', () => resolve(0));
    req.end();
  });
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function summarize(values: readonly number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return { mean, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN };
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Runs `task` over `items` with at most `limit` at a time; results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      results[i] = await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

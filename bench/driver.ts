/**
 * The load driver: the storage proxy and the load generator in a worker thread, so the main
 * thread runs nothing but the server under test (the app, or the baseline) — one event loop, like
 * one Functions instance — and the harness's own work is not billed to it.
 *
 * The bundle (dist-dev/bench.js) starts itself again as the worker: bench.ts calls runDriver()
 * when it is not the main thread.
 */
import { parentPort, Worker } from 'node:worker_threads';
import type { Agent } from 'node:http';
import { newAgent, runLoad, summarize, type LoadResult } from './load';
import { rssOf } from './processes';
import { diffCounts, StorageProxy, type StorageCounts } from './storage-proxy';

export interface LoadJob {
  readonly baseUrl: string;
  /** More servers (other instances of the same app): requests are split evenly over baseUrl and these. */
  readonly moreBaseUrls?: readonly string[];
  readonly path: string;
  /** Cookie of request i: cookies[(offset + i) % cookies.length]. */
  readonly cookies: readonly string[];
  readonly offset: number;
  readonly total: number;
  readonly concurrency: number;
  /** Track the storage traffic of every single request (meaningful at concurrency 1). */
  readonly perRequestStorage?: boolean;
  /** Sample this process's RSS every `rssEvery` answers. */
  readonly rssPid?: number;
  readonly rssEvery?: number;
  /**
   * Leave this job's connections open for the next job to the same server at the same concurrency
   * (a warm-up's for the timed run), so that the timed run does not pay for new connections.
   */
  readonly keepConnections?: boolean;
}

export interface WorstRequest {
  maxReads: number;
  maxWrites: number;
  maxTokenCacheReads: number;
  maxTokenCacheWrites: number;
}

export interface LoadJobResult {
  readonly load: LoadResult;
  readonly storage: StorageCounts;
  readonly worstRequest?: WorstRequest;
  readonly rssSamples?: { requests: number; rssBytes: number }[];
}

type Call =
  | { type: 'startProxy'; target: string }
  | { type: 'latency'; ms: number }
  | { type: 'snapshot' }
  | { type: 'load'; job: LoadJob }
  | { type: 'stop' };

/** The worker side. */
export function runDriver(): void {
  const port = parentPort!;
  let proxy: StorageProxy | undefined;
  const handle = async (call: Call): Promise<unknown> => {
    switch (call.type) {
      case 'startProxy':
        proxy = new StorageProxy(call.target);
        await proxy.start();
        return proxy.endpoint;
      case 'latency':
        proxy!.latencyMs = call.ms;
        return null;
      case 'snapshot':
        return proxy!.snapshot();
      case 'load':
        return load(proxy!, call.job);
      case 'stop':
        for (const agent of kept.values()) agent.destroy();
        await proxy?.stop();
        return null;
    }
  };
  port.on('message', (message: { id: number; call: Call }) => {
    handle(message.call).then(
      (value) => port.postMessage({ id: message.id, value }),
      (error: unknown) => port.postMessage({ id: message.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
}

/** Connections a job left open (`keepConnections`), by server and concurrency. */
const kept = new Map<string, Agent>();

async function load(proxy: StorageProxy, job: LoadJob): Promise<LoadJobResult> {
  const before = proxy.snapshot();
  const keptKey = `${job.baseUrl}|${job.concurrency}`;
  let agent = job.moreBaseUrls?.length ? undefined : kept.get(keptKey);
  kept.delete(keptKey);
  if (job.keepConnections && !job.moreBaseUrls?.length) kept.set(keptKey, (agent ??= newAgent(job.concurrency)));
  const worst: WorstRequest = { maxReads: 0, maxWrites: 0, maxTokenCacheReads: 0, maxTokenCacheWrites: 0 };
  const rssSamples: { requests: number; rssBytes: number }[] = [];
  let last: StorageCounts | undefined;
  let answered = 0;
  const beforeEach = (): void => {
    if (job.perRequestStorage) last = proxy.snapshot();
  };
  const afterEach = (): void => {
    answered++;
    if (job.perRequestStorage && last) {
      const d = diffCounts(last, proxy.snapshot());
      // A shared read (session and token cache in one query) counts as a token-cache read too.
      const tc = ['tokenCache', 'shared'].reduce((sum, kind) => ({ reads: sum.reads + (d.byKind[kind]?.reads ?? 0), writes: sum.writes + (d.byKind[kind]?.writes ?? 0) }), { reads: 0, writes: 0 });
      worst.maxReads = Math.max(worst.maxReads, d.reads);
      worst.maxWrites = Math.max(worst.maxWrites, d.writes);
      worst.maxTokenCacheReads = Math.max(worst.maxTokenCacheReads, tc.reads);
      worst.maxTokenCacheWrites = Math.max(worst.maxTokenCacheWrites, tc.writes);
    }
    if (job.rssPid !== undefined && job.rssEvery && answered % job.rssEvery === 0) rssSamples.push({ requests: answered, rssBytes: rssOf(job.rssPid).rss });
  };
  const urls = [job.baseUrl, ...(job.moreBaseUrls ?? [])];
  const runs = await Promise.all(
    urls.map((baseUrl, k) =>
      // Server k gets requests k, k + n, k + 2n, ... and its share of the concurrency.
      runLoad({
        baseUrl,
        total: Math.floor(job.total / urls.length) + (k < job.total % urls.length ? 1 : 0),
        concurrency: Math.max(1, Math.round(job.concurrency / urls.length)),
        request: (i) => ({ path: job.path, cookie: job.cookies[(job.offset + k + i * urls.length) % job.cookies.length]! }),
        before: beforeEach,
        after: afterEach,
        ...(agent ? { agent } : {}),
      }),
    ),
  );
  if (agent && !job.keepConnections) agent.destroy();
  return {
    load: runs.length === 1 ? runs[0]! : merge(runs),
    storage: diffCounts(before, proxy.snapshot()),
    ...(job.perRequestStorage ? { worstRequest: worst } : {}),
    ...(job.rssPid !== undefined ? { rssSamples } : {}),
  };
}

/** One result from runs that went on at the same time. */
function merge(runs: readonly LoadResult[]): LoadResult {
  const statuses: Record<string, number> = {};
  for (const run of runs) for (const [status, count] of Object.entries(run.statuses)) statuses[status] = (statuses[status] ?? 0) + count;
  const latencies = runs.flatMap((run) => run.latencies);
  const requests = runs.reduce((sum, run) => sum + run.requests, 0);
  const durationMs = Math.max(...runs.map((run) => run.durationMs));
  return { requests, statuses, durationMs, requestsPerSecond: requests / (durationMs / 1000), latency: summarize(latencies), latencies };
}

/** The main-thread side. */
export class Driver {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  #next = 0;
  endpoint = '';

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (message: { id: number; value?: unknown; error?: string }) => {
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error !== undefined) pending?.reject(new Error(`load driver: ${message.error}`));
      else pending?.resolve(message.value);
    });
    worker.on('error', (error) => {
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
    });
  }

  /** Starts the worker (this same bundle) and its storage proxy in front of `target` (Azurite's Table endpoint). */
  static async start(script: string, target: string): Promise<Driver> {
    const driver = new Driver(new Worker(script, { workerData: { role: 'bench-driver' } }));
    driver.endpoint = (await driver.#call({ type: 'startProxy', target })) as string;
    return driver;
  }

  /** Azurite's connection string with the TableEndpoint pointed at the proxy. */
  connectionString(azuriteConnectionString: string): string {
    return azuriteConnectionString.replace(/TableEndpoint=[^;]+/i, `TableEndpoint=${this.endpoint}`);
  }

  async setLatency(ms: number): Promise<void> {
    await this.#call({ type: 'latency', ms });
  }

  snapshot(): Promise<StorageCounts> {
    return this.#call({ type: 'snapshot' }) as Promise<StorageCounts>;
  }

  load(job: LoadJob): Promise<LoadJobResult> {
    return this.#call({ type: 'load', job }) as Promise<LoadJobResult>;
  }

  async stop(): Promise<void> {
    await this.#call({ type: 'stop' }).catch(() => {});
    await this.#worker.terminate();
  }

  #call(call: Call): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, call });
    });
  }
}

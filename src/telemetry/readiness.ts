/**
 * Readiness: do the dependencies a request needs answer? Table Storage, Key Vault (when the app
 * reads its secrets from one) and the authority's metadata, each asked once with a short timeout,
 * side by side. The answer is kept a few seconds and shared by concurrent probes, so however often
 * a load balancer or an operator probes, each instance asks each dependency at most once per
 * READY_CACHE_MS. /api/health stays the dependency-free liveness probe.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Clock } from '../clock';
import { instruments, tracer } from './instruments';
import { errorKind } from './spans';

/** Each dependency gets this long to answer. */
export const READY_CHECK_TIMEOUT_MS = 2_000;
/** An answer is reused this long (also the Retry-After of a 503). */
export const READY_CACHE_MS = 5_000;

/** A dependency check: resolves when it answered, rejects (or times out) when not. */
export type ReadinessCheck = (signal: AbortSignal) => Promise<void>;

export type DependencyName = 'storage' | 'key_vault' | 'authority';

export type CheckResult = 'ok' | 'failed' | 'timeout';

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Readonly<Partial<Record<DependencyName, CheckResult>>>;
  /** The dependencies that did not answer, in check order. */
  readonly failing: readonly DependencyName[];
  /** When this answer was taken (clock ms). */
  readonly checkedAt: number;
}

export interface ReadinessOptions {
  readonly checks: Readonly<Partial<Record<DependencyName, ReadinessCheck>>>;
  readonly clock?: Clock;
  readonly timeoutMs?: number;
  readonly cacheMs?: number;
}

export class Readiness {
  readonly #options: ReadinessOptions;
  #last: { at: number; report: Promise<ReadinessReport> } | undefined;

  constructor(options: ReadinessOptions) {
    this.#options = options;
  }

  /** The current answer: a cached one younger than READY_CACHE_MS, or a fresh round of checks. */
  check(): Promise<ReadinessReport> {
    const clock = this.#options.clock ?? Date.now;
    const now = clock();
    if (this.#last && now - this.#last.at < (this.#options.cacheMs ?? READY_CACHE_MS)) return this.#last.report;
    const report = this.#run(clock);
    this.#last = { at: now, report };
    return report;
  }

  async #run(clock: Clock): Promise<ReadinessReport> {
    const timeoutMs = this.#options.timeoutMs ?? READY_CHECK_TIMEOUT_MS;
    const entries = Object.entries(this.#options.checks) as [DependencyName, ReadinessCheck][];
    const results = await Promise.all(entries.map(async ([name, check]) => [name, await runCheck(name, check, timeoutMs)] as const));
    const checks = Object.fromEntries(results) as Partial<Record<DependencyName, CheckResult>>;
    const failing = results.filter(([, result]) => result !== 'ok').map(([name]) => name);
    return { ready: failing.length === 0, checks, failing, checkedAt: clock() };
  }
}

async function runCheck(name: DependencyName, check: ReadinessCheck, timeoutMs: number): Promise<CheckResult> {
  return tracer().startActiveSpan(`readiness ${name}`, { kind: SpanKind.INTERNAL, attributes: { 'bff.dependency': name } }, async (span) => {
    const signal = AbortSignal.timeout(timeoutMs);
    let result: CheckResult;
    try {
      // The check may ignore the signal; the race bounds it all the same.
      await Promise.race([
        check(signal),
        new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true })),
      ]);
      result = 'ok';
    } catch (error) {
      result = signal.aborted ? 'timeout' : 'failed';
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.setAttribute('error.type', signal.aborted ? 'timeout' : errorKind(error));
    }
    span.setAttribute('bff.readiness.result', result);
    span.end();
    instruments().readinessChecks.add(1, { dependency: name, outcome: result === 'ok' ? 'ok' : 'failed' });
    return result;
  });
}

/**
 * The authority answers when its OpenID metadata document (`url`, msal-app.ts's
 * authorityMetadataUrl) does (HTTP 200). Asked afresh, not msal-app's copy of the document: that
 * one is fetched once per process and says nothing about whether the authority answers now.
 */
export function authorityCheck(url: string): ReadinessCheck {
  return async (signal) => {
    const response = await fetch(url, { signal });
    await response.body?.cancel();
    if (response.status !== 200) throw new Error(`metadata answered ${response.status}`);
  };
}

import type { SweepReport } from '../functions/sweep';
import { instruments } from './instruments';

/** bff.sweep.runs (ok/failed) and bff.sweep.deleted by kind, for one run of the sweep timer. */
export function recordSweep(report: SweepReport | undefined): void {
  const metrics = instruments();
  metrics.sweepRuns.add(1, { outcome: report ? 'ok' : 'failed' });
  if (!report) return;
  metrics.sweepDeleted.add(report.tokenCachePartitions, { kind: 'token_cache_partitions' });
  metrics.sweepDeleted.add(report.tokenCacheRows, { kind: 'token_cache_rows' });
  metrics.sweepDeleted.add(report.sessions, { kind: 'sessions' });
  metrics.sweepDeleted.add(report.spentTransactions, { kind: 'spent_transactions' });
}

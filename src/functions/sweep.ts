import type { InvocationContext } from '@azure/functions';
import type { Services } from '../services';

/**
 * Index entries (and rows) handled per run and kind. Every 30 minutes, so up to 960,000 a day per
 * kind: about twice what 1,000,000 users write (docs/scale.md). The index sweep visits 16 accounts
 * at once, so a full run is tens of seconds of storage round trips, well inside a timer invocation.
 */
export const SWEEP_BATCH = 20_000;

export interface SweepReport {
  readonly tokenCachePartitions: number;
  readonly tokenCacheRows: number;
  readonly sessions: number;
  readonly spentTransactions: number;
}

/**
 * Timer: deletes token-cache partitions past their refresh token's expiry and sessions past their
 * idle or absolute expiry, and spent sign-in transactions past theirs, in bounded batches (the next run takes the rest).
 */
export async function sweepExpired(services: Services, context: InvocationContext): Promise<SweepReport> {
  const now = services.clock();
  let report: SweepReport;
  try {
    const cache = await services.tokenCacheStore.sweepExpired({ now, maxRows: SWEEP_BATCH });
    const sessions = await services.sessionStore.sweepExpired(now, SWEEP_BATCH);
    const spentTransactions = await services.spentTransactions.sweepExpired(now, SWEEP_BATCH);
    report = { tokenCachePartitions: cache.partitions, tokenCacheRows: cache.rows, sessions, spentTransactions };
  } catch (error) {
    services.recordSweep(undefined);
    throw error;
  }
  services.recordSweep(report);
  context.info(`sweep: ${JSON.stringify(report)}`);
  return report;
}

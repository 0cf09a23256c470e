import type { InvocationContext } from '@azure/functions';
import type { Services } from '../services';

/** Rows handled per run: a run stays well inside a timer invocation even on a slow day. */
export const SWEEP_BATCH = 500;

export interface SweepReport {
  readonly tokenCachePartitions: number;
  readonly tokenCacheRows: number;
  readonly sessions: number;
}

/**
 * Timer: deletes token-cache partitions past their refresh token's expiry and sessions past their
 * idle or absolute expiry, in bounded batches (the next run takes the rest).
 */
export async function sweepExpired(services: Services, context: InvocationContext): Promise<SweepReport> {
  const now = services.clock();
  let report: SweepReport;
  try {
    const cache = await services.tokenCacheStore.sweepExpired({ now, maxRows: SWEEP_BATCH });
    const sessions = await services.sessionStore.sweepExpired(now, SWEEP_BATCH);
    report = { tokenCachePartitions: cache.partitions, tokenCacheRows: cache.rows, sessions };
  } catch (error) {
    services.recordSweep(undefined);
    throw error;
  }
  services.recordSweep(report);
  context.info(`sweep: ${JSON.stringify(report)}`);
  return report;
}

/**
 * Timer-triggered functions, declared once like the routes: `main.ts` registers them with
 * `app.timer()`; locally `npm run sweep` runs them by hand (the local host does not schedule them).
 */
import type { InvocationContext } from '@azure/functions';
import { sweepExpired } from './functions/sweep';
import type { ServicesProvider } from './services';

export interface TimerJob {
  readonly name: string;
  /** NCRONTAB with seconds, as the Functions timer trigger takes it. */
  readonly schedule: string;
  readonly run: (context: InvocationContext) => Promise<unknown>;
}

export function createTimers(services: ServicesProvider): TimerJob[] {
  return [{ name: 'sweepExpired', schedule: '0 */30 * * * *', run: async (context) => sweepExpired(await services(), context) }];
}

/**
 * THE route table: every HTTP function, declared once. `main.ts` registers it with `app.http()`
 * for Azure; `http/local-host.ts` serves the same table for `npm start` and the tests.
 */
import { health } from './functions/health';
import { handleErrors } from './http/handle-errors';
import type { Route } from './http/route';

export function createRoutes(): Route[] {
  return [{ name: 'health', methods: ['GET'], path: '/api/health', handler: handleErrors('api', health) }];
}

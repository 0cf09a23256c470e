import type { HttpResponseInit } from '@azure/functions';
import { json } from '../http/responses';

/** Liveness only: answers without touching any dependency, so a slow vault cannot fail probes. */
export async function health(): Promise<HttpResponseInit> {
  return json(200, { status: 'ok' });
}

import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { html } from '../http/responses';
import type { Services } from '../services';
import { devicesPage, signInDueNotice } from '../web/devices-page';
import { requireSession } from './me';

/** GET /api/devices: the "Your devices" page (src/web/devices-page.ts). */
export async function devices(services: Services, request: HttpRequest): Promise<HttpResponseInit> {
  const session = await requireSession(services, request, '/api/devices');
  const list = await services.sessions.devices(session);
  return html(
    200,
    devicesPage({
      user: { name: session.name, username: session.username },
      devices: list,
      signInDue: signInDueNotice(session.absoluteExpiresAt, services.clock()),
    }),
    { script: true },
  );
}

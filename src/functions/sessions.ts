import type { Cookie, HttpRequest, HttpResponseInit } from '@azure/functions';
import { clearSessionCookie, type ActiveSession } from '../auth/sessions';
import { AppError, ErrorCode } from '../errors';
import { assertWriteRequest } from '../http/csrf';
import { json } from '../http/responses';
import type { Services } from '../services';
import { requireSession } from './me';

/** A handle as sessionHandle makes it; anything else names no session, and costs no storage. */
const HANDLE = /^[A-Za-z0-9_-]{22}$/;

/** GET /api/sessions: the signed-in account's devices. */
export async function sessionsList(services: Services, request: HttpRequest): Promise<HttpResponseInit> {
  const session = await requireSession(services, request, '/api/devices');
  const devices = await services.sessions.devices(session);
  return json(200, {
    sessions: devices.map((d) => ({
      id: d.id,
      current: d.current,
      createdAt: new Date(d.createdAt).toISOString(),
      lastSeenAt: new Date(d.lastSeenAt).toISOString(),
      device: d.device,
    })),
  });
}

/**
 * POST /api/sessions/{id}/end: signs one device out. Ending this very device clears its cookie, and
 * when it was the account's last, the tokens go as at a sign-out (but Entra's session stays: this is
 * the app's list of devices, not a Microsoft sign-out).
 */
export async function sessionEnd(services: Services, request: HttpRequest): Promise<HttpResponseInit> {
  assertWriteRequest(request, services.config.publicBaseUrl);
  const session = await requireSession(services, request, '/api/devices');
  const handle = request.params['id'] ?? '';
  const ended = HANDLE.test(handle) ? await services.sessions.endByHandle(session.homeAccountId, handle) : undefined;
  if (ended === undefined) {
    throw new AppError(ErrorCode.SESSION_NOT_FOUND, 'That device is not signed in (any more). Reload the list of your devices.', { status: 404 });
  }
  if (ended.idHash !== session.ref.idHash) return noContent();
  await removeTokensIfLast(services, session);
  return noContent([clearSessionCookie()]);
}

/** POST /api/sessions/end-others: signs every other device out; this one stays, with the tokens. */
export async function sessionsEndOthers(services: Services, request: HttpRequest): Promise<HttpResponseInit> {
  assertWriteRequest(request, services.config.publicBaseUrl);
  const session = await requireSession(services, request, '/api/devices');
  await services.sessions.endOthers(session);
  return noContent();
}

/** As at a sign-out: the tokens leave the cache when no device of the account is signed in any more. */
export async function removeTokensIfLast(services: Services, session: Pick<ActiveSession, 'homeAccountId'>): Promise<void> {
  await services.tokens.removeAccount(session.homeAccountId, { onlyIf: () => services.sessions.noneLeft(session.homeAccountId) });
}

function noContent(cookies: readonly Cookie[] = []): HttpResponseInit {
  const { headers } = json(204, null);
  const { ['Content-Type']: _type, ...rest } = headers as Record<string, string>;
  return { status: 204, headers: rest, ...(cookies.length > 0 ? { cookies: [...cookies] } : {}) };
}

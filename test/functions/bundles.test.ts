/**
 * The built bundles as the Functions host loads them: dist/main.js, with a stand-in for the
 * @azure/functions-core module the host provides (it captures the registrations), in a process of
 * its own; the captured handlers are called with the SDK's HttpRequest.
 *
 * The app is two bundles (scripts/build.mjs): dist/main.js, light, and dist/services.js, required
 * on first use. Jest runs src/ as one module graph, so only the bundles can show that the split
 * holds: /api/health answers without dist/services.js loaded, and an AppError raised inside
 * dist/services.js still answers with its status and code (isAppError is `instanceof`, and each
 * bundle has its own copy of errors.ts).
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { emulators } from '../support/emulators';
import { REPO_ROOT as ROOT, underHost } from '../support/functions-host';
import { buildApp } from '../support/instances';

describe('the built bundles under a stand-in Functions host', () => {
  beforeAll(() => buildApp(), 60_000);

  it('registers every route and the timer, and answers /api/health without loading dist/services.js', () => {
    const result = underHost(emulators().env, [['health', '/api/health']]);
    expect(result.registered.sort()).toEqual(['admin-consent', 'admin-consent-callback', 'assets-css', 'assets-devices-js', 'callback', 'devices', 'forget', 'health', 'home', 'login', 'logout', 'logout-frontchannel', 'mail', 'me', 'ready', 'session-end', 'sessions', 'sessions-end-others', 'sweepExpired']);
    expect(result.servicesLoadedAtStart).toBe(false);
    expect(result.calls).toEqual([{ name: 'health', status: 200, body: '{"status":"ok"}', servicesLoaded: false }]);
  });

  it('loads dist/services.js on first use, whose errors keep their status and code', () => {
    const result = underHost(emulators().env, [
      ['me', '/api/me'],
      ['mail', '/api/mail'],
    ]);
    expect(result.calls.map(({ name, status, servicesLoaded }) => ({ name, status, servicesLoaded }))).toEqual([
      { name: 'me', status: 401, servicesLoaded: true },
      { name: 'mail', status: 401, servicesLoaded: true },
    ]);
    for (const call of result.calls) expect(JSON.parse(call.body)).toMatchObject({ error: 'login_required' });
  });

  it('without valid settings: 503 config_invalid from dist/services.js, as JSON and as a page', () => {
    const result = underHost({}, [
      ['health', '/api/health'],
      ['me', '/api/me'],
      ['home', '/'],
    ]);
    const [health, me, home] = result.calls;
    expect(health).toMatchObject({ status: 200, servicesLoaded: false });
    expect(me).toMatchObject({ status: 503, servicesLoaded: true });
    expect(JSON.parse(me!.body)).toMatchObject({ error: 'config_invalid' });
    expect(home).toMatchObject({ status: 503 });
    expect(home!.body).toContain('<code>config_invalid</code>');
  });

  it('without dist/services.js: 500 internal_error wherever it is needed, as JSON and as a page; health still answers', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bundles-'));
    try {
      copyFileSync(path.join(ROOT, 'dist', 'main.js'), path.join(dir, 'main.js'));
      const [health, me, home] = underHost(emulators().env, [['health', '/api/health'], ['me', '/api/me'], ['home', '/']], path.join(dir, 'main.js')).calls;
      expect(health).toMatchObject({ status: 200 });
      expect(me).toMatchObject({ status: 500 });
      expect(JSON.parse(me!.body)).toMatchObject({ error: 'internal_error' });
      expect(home).toMatchObject({ status: 500 });
      expect(home!.body).toContain('<code>internal_error</code>');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

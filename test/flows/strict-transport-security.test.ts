/**
 * Issue 16, finding 4: Strict-Transport-Security on every response of the app, pages, API answers,
 * redirects and errors alike, with includeSubDomains as a setting (HSTS_INCLUDE_SUBDOMAINS).
 */
import { loadConfig } from '../../src/config';
import { startTestApp, type TestApp } from '../support/app';
import { emulators } from '../support/emulators';

describe('Strict-Transport-Security', () => {
  const apps: TestApp[] = [];
  afterAll(() => Promise.all(apps.map((a) => a.stop())));

  const requests: [string, string, RequestInit?][] = [
    ['the page', '/'],
    ['a redirect', '/api/login?returnTo=%2F'],
    ['an API 401', '/api/me'],
    ['an error page', '/api/callback?state=x&code=y'],
    ['a refused form post', '/api/logout', { method: 'POST', headers: { origin: 'https://evil.example' } }],
    ['the stylesheet', '/api/assets/app.css'],
    ['the health probe', '/api/health'],
    ['an unknown route', '/api/nothing-here'],
  ];

  it.each([
    ['default', {}, 'max-age=31536000; includeSubDomains'],
    ['HSTS_INCLUDE_SUBDOMAINS=false', { HSTS_INCLUDE_SUBDOMAINS: 'false' }, 'max-age=31536000'],
  ])('is on every response (%s)', async (_label, env, expected) => {
    const app = await startTestApp({ env });
    apps.push(app);
    for (const [what, path, init] of requests) {
      const response = await fetch(`${app.url}${path}`, { redirect: 'manual', ...init });
      await response.arrayBuffer();
      expect({ what, status: response.status < 500, hsts: response.headers.get('strict-transport-security') }).toEqual({ what, status: true, hsts: expected });
    }
  });

  it('the setting takes true or false only', () => {
    expect(() => loadConfig({ ...emulators().env, PUBLIC_BASE_URL: 'http://localhost:7071', HSTS_INCLUDE_SUBDOMAINS: 'yes' })).toThrow(
      'HSTS_INCLUDE_SUBDOMAINS must be true or false ("yes").',
    );
    expect(loadConfig({ ...emulators().env, PUBLIC_BASE_URL: 'http://localhost:7071', HSTS_INCLUDE_SUBDOMAINS: 'FALSE' }).hstsIncludeSubDomains).toBe(false);
    expect(loadConfig({ ...emulators().env, PUBLIC_BASE_URL: 'http://localhost:7071' }).hstsIncludeSubDomains).toBe(true);
  });
});

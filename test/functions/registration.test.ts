/**
 * What the Functions host sees: dist/main.js (src/main.ts) registers the whole route table with
 * app.http() and the timers with app.timer(). The registrations are captured through a mock of
 * @azure/functions' `app`, since outside the host app.http() only prints a warning.
 * (test/functions/bundles.test.ts loads the built bundles the same way.)
 */
import { HttpRequest, HttpResponse, InvocationContext, type HttpHandler, type HttpResponseInit } from '@azure/functions';
import { SETTINGS } from '../../src/config';

const registered: { http: Record<string, { methods: string[]; authLevel: string; route: string }>; timers: Record<string, string> } = { http: {}, timers: {} };
const handlers: Record<string, HttpHandler> = {};

jest.mock('@azure/functions', () => {
  const actual = jest.requireActual('@azure/functions');
  return {
    ...actual,
    app: {
      setup: () => {},
      http: (name: string, options: { methods: string[]; authLevel: string; route: string; handler: HttpHandler }) => {
        registered.http[name] = { methods: options.methods, authLevel: options.authLevel, route: options.route };
        handlers[name] = options.handler;
      },
      timer: (name: string, options: { schedule: string }) => {
        registered.timers[name] = options.schedule;
      },
    },
  };
});

describe('Azure Functions registration', () => {
  const startupErrors: string[] = [];

  beforeAll(() => {
    // No app settings at all: the registrations must not depend on them.
    const saved = SETTINGS.map((setting) => [setting.name, process.env[setting.name]] as const);
    for (const [name] of saved) delete process.env[name];
    const errors = jest.spyOn(console, 'error').mockImplementation((message: unknown) => void startupErrors.push(String(message)));
    try {
      jest.isolateModules(() => {
        require('../../src/main');
      });
    } finally {
      errors.mockRestore();
      for (const [name, value] of saved) if (value !== undefined) process.env[name] = value;
    }
  });

  async function call(name: string, path: string): Promise<{ status: number; contentType: string | null; body: string }> {
    const init = await handlers[name]!(
      new HttpRequest({ method: 'GET', url: `http://localhost${path}`, headers: {}, query: {}, params: {} }),
      new InvocationContext({ functionName: name, logHandler: () => {} }),
    );
    const response = new HttpResponse(init as HttpResponseInit);
    return { status: response.status, contentType: response.headers.get('content-type'), body: await response.text() };
  }

  it('without valid settings: logs them once at start, answers 503 config_invalid wherever the services are needed, and health still answers', async () => {
    expect(startupErrors).toHaveLength(1);
    expect(startupErrors[0]).toContain('TENANT_ID');
    const me = await call('me', '/api/me');
    expect(me).toMatchObject({ status: 503, contentType: expect.stringContaining('application/json') });
    expect(JSON.parse(me.body)).toMatchObject({ error: 'config_invalid' });
    expect(await call('home', '/')).toMatchObject({ status: 503, contentType: expect.stringContaining('text/html'), body: expect.stringContaining('config_invalid') });
    expect(await call('health', '/api/health')).toMatchObject({ status: 200 });
  });

  it('registers every route of the table, anonymous, with the host route templates', () => {
    expect(registered.http).toEqual({
      health: { methods: ['GET'], authLevel: 'anonymous', route: 'api/health' },
      home: { methods: ['GET'], authLevel: 'anonymous', route: '{ignored:maxlength(0)?}' },
      'assets-css': { methods: ['GET'], authLevel: 'anonymous', route: 'api/assets/app.css' },
      login: { methods: ['GET'], authLevel: 'anonymous', route: 'api/login' },
      callback: { methods: ['GET', 'POST'], authLevel: 'anonymous', route: 'api/callback' },
      me: { methods: ['GET'], authLevel: 'anonymous', route: 'api/me' },
      mail: { methods: ['GET'], authLevel: 'anonymous', route: 'api/mail' },
      logout: { methods: ['GET', 'POST'], authLevel: 'anonymous', route: 'api/logout' },
      forget: { methods: ['GET', 'POST'], authLevel: 'anonymous', route: 'api/forget' },
      devices: { methods: ['GET'], authLevel: 'anonymous', route: 'api/devices' },
      'assets-devices-js': { methods: ['GET'], authLevel: 'anonymous', route: 'api/assets/devices.js' },
      sessions: { methods: ['GET'], authLevel: 'anonymous', route: 'api/sessions' },
      'sessions-end-others': { methods: ['POST'], authLevel: 'anonymous', route: 'api/sessions/end-others' },
      'session-end': { methods: ['POST'], authLevel: 'anonymous', route: 'api/sessions/{id}/end' },
      'logout-frontchannel': { methods: ['GET'], authLevel: 'anonymous', route: 'api/logout/frontchannel' },
      ready: { methods: ['GET'], authLevel: 'anonymous', route: 'api/ready' },
      'admin-consent': { methods: ['GET'], authLevel: 'anonymous', route: 'api/admin-consent' },
      'admin-consent-callback': { methods: ['GET'], authLevel: 'anonymous', route: 'api/admin-consent/callback' },
    });
  });

  it('registers the eviction timer', () => {
    expect(registered.timers).toEqual({ sweepExpired: '0 */30 * * * *' });
  });

  it('host.json leaves the root to the web page and pins the extension bundle', () => {
    const host = require('../../host.json') as { extensions: { http: { routePrefix: string } }; extensionBundle: { version: string } };
    expect(host.extensions.http.routePrefix).toBe('');
    expect(host.extensionBundle.version).toBe('[4.*, 5.0.0)');
  });

  it('package.json main points at the bundle the build writes', () => {
    expect(require('../../package.json').main).toBe('dist/main.js');
  });
});

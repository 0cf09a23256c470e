/**
 * What the Functions host sees: dist/main.js (src/main.ts) registers the whole route table with
 * app.http() and the timers with app.timer(). The registrations are captured through a mock of
 * @azure/functions' `app`, since outside the host app.http() only prints a warning.
 */
const registered: { http: Record<string, { methods: string[]; authLevel: string; route: string }>; timers: Record<string, string> } = { http: {}, timers: {} };

jest.mock('@azure/functions', () => {
  const actual = jest.requireActual('@azure/functions');
  return {
    ...actual,
    app: {
      setup: () => {},
      http: (name: string, options: { methods: string[]; authLevel: string; route: string }) => {
        registered.http[name] = { methods: options.methods, authLevel: options.authLevel, route: options.route };
      },
      timer: (name: string, options: { schedule: string }) => {
        registered.timers[name] = options.schedule;
      },
    },
  };
});

describe('Azure Functions registration', () => {
  beforeAll(() => {
    const errors = jest.spyOn(console, 'error').mockImplementation(() => {});
    jest.isolateModules(() => {
      require('../../src/main');
    });
    errors.mockRestore();
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

/**
 * THE route table: every HTTP function, declared once. `main.ts` registers it with `app.http()`
 * for Azure; `http/local-host.ts` serves the same table for `npm start` and the tests.
 *
 * Cold start: this module, and everything the entry points load at start, stays light. The health
 * probe and the stylesheet are answered from here; every other handler needs the services and lives
 * behind `./services`, which is required on the first request for one of them (in dist/ it is a
 * bundle of its own, dist/services.js: see src/services.ts and scripts/build.mjs). Import nothing
 * else from `./services` here but types.
 */
import type { Config } from './config';
import { appCss, devicesJs } from './functions/assets';
import { health } from './functions/health';
import type { ResponseKind } from './http/handle-errors';
import type { Route, RouteHandler } from './http/route';
import { strictTransportSecurity, withStrictTransportSecurity } from './http/transport-security';
import type { ServiceRouteName, ServicesProvider } from './services';

type ServicesModule = typeof import('./services');
type HandleErrorsModule = typeof import('./http/handle-errors');

/**
 * `./services`, loaded on first call. A plain require(), not import(): the bundles are CommonJS
 * (esbuild does not split those, so scripts/build.mjs keeps this one call external and points it
 * at dist/services.js), and jest runs src/ as CommonJS too.
 */
function servicesModule(): ServicesModule {
  return require('./services') as ServicesModule;
}

/**
 * http/handle-errors' handleErrors, required only once a handler here fails: it renders error pages
 * with web/pages, whose module-level Intl.DateTimeFormat (ICU data) costs 10-20 ms at start, as much
 * as loading @azure/functions, and nothing fails on the way to a 200 from /api/health.
 */
function handleErrorsLazily(kind: ResponseKind, handler: RouteHandler): RouteHandler {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (error) {
      const { handleErrors: answer } = require('./http/handle-errors') as HandleErrorsModule;
      return answer(kind, () => Promise.reject(error))(request, context);
    }
  };
}

export interface RouteOptions {
  /** The Strict-Transport-Security value every response carries (default: one year, includeSubDomains). */
  readonly strictTransportSecurity?: string;
}

export function createRoutes(services: ServicesProvider, options: RouteOptions = {}): Route[] {
  const hsts = options.strictTransportSecurity ?? strictTransportSecurity(true);
  /**
   * A route whose handler is in `./services`, loaded on its first request. The error handling here
   * only sees that load failing (a 500); what the handler throws is answered inside `./services`.
   */
  const service = (kind: ResponseKind, name: ServiceRouteName): RouteHandler => {
    let handler: RouteHandler | undefined;
    return handleErrorsLazily(kind, async (request, context) => {
      handler ??= servicesModule().serviceRoute(kind, name, services);
      return handler(request, context);
    });
  };
  const routes: Route[] = [
    { name: 'health', methods: ['GET'], path: '/api/health', handler: handleErrorsLazily('api', health) },
    { name: 'home', methods: ['GET'], path: '/', handler: service('page', 'home') },
    { name: 'assets-css', methods: ['GET'], path: '/api/assets/app.css', handler: handleErrorsLazily('api', appCss) },
    { name: 'login', methods: ['GET'], path: '/api/login', handler: service('page', 'login') },
    { name: 'callback', methods: ['GET', 'POST'], path: '/api/callback', handler: service('page', 'callback') },
    { name: 'me', methods: ['GET'], path: '/api/me', handler: service('api', 'me') },
    { name: 'mail', methods: ['GET'], path: '/api/mail', handler: service('api', 'mail') },
    { name: 'logout', methods: ['GET', 'POST'], path: '/api/logout', handler: service('page', 'logout') },
    { name: 'forget', methods: ['GET', 'POST'], path: '/api/forget', handler: service('page', 'forget') },
    // "Your devices": the page, its same-origin script (the CSP allows no inline script), and the
    // API it calls. The write calls take the app's Origin and `X-CSRF: 1` (src/http/csrf.ts).
    { name: 'devices', methods: ['GET'], path: '/api/devices', handler: service('page', 'devices') },
    { name: 'assets-devices-js', methods: ['GET'], path: '/api/assets/devices.js', handler: handleErrorsLazily('api', devicesJs) },
    { name: 'sessions', methods: ['GET'], path: '/api/sessions', handler: service('api', 'sessionsList') },
    { name: 'sessions-end-others', methods: ['POST'], path: '/api/sessions/end-others', handler: service('api', 'sessionsEndOthers') },
    { name: 'session-end', methods: ['POST'], path: '/api/sessions/{id}/end', handler: service('api', 'sessionEnd') },
    // Loaded by Entra in an iframe with no cookie; an 'api' route so its own CSP (frame-ancestors
    // the authority) is not replaced by the pages' one.
    { name: 'logout-frontchannel', methods: ['GET'], path: '/api/logout/frontchannel', handler: service('api', 'frontchannelLogout') },
    // Readiness asks the dependencies (cached a few seconds): behind the services, unlike health.
    { name: 'ready', methods: ['GET'], path: '/api/ready', handler: service('api', 'ready') },
    { name: 'admin-consent', methods: ['GET'], path: '/api/admin-consent', handler: service('page', 'adminConsent') },
    { name: 'admin-consent-callback', methods: ['GET'], path: '/api/admin-consent/callback', handler: service('page', 'adminConsentCallback') },
  ];
  return routes.map((route) => ({ ...route, handler: withStrictTransportSecurity(route.handler, hsts) }));
}

/**
 * The services for `createRoutes` and the timers, built on first use from what the entry point read
 * at start: the Config, or (main.ts) the error reading the settings gave, in which case every
 * request that needs the services answers 503 config_invalid.
 */
export function servicesOnFirstUse(config: Config | undefined, configError?: unknown): ServicesProvider {
  let provider: ServicesProvider | undefined;
  return async () => {
    provider ??= servicesModule().servicesFor(config, configError);
    return provider();
  };
}

/**
 * THE route table: every HTTP function, declared once. `main.ts` registers it with `app.http()`
 * for Azure; `http/local-host.ts` serves the same table for `npm start` and the tests.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { appCss } from './functions/assets';
import { callback } from './functions/callback';
import { forget } from './functions/forget';
import { health } from './functions/health';
import { home } from './functions/home';
import { login } from './functions/login';
import { logout } from './functions/logout';
import { mail } from './functions/mail';
import { me } from './functions/me';
import { handleErrors } from './http/handle-errors';
import { contentSecurityPolicy } from './http/responses';
import type { Route, RouteHandler } from './http/route';
import type { Services, ServicesProvider } from './services';

type ServiceHandler = (services: Services, request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

export function createRoutes(services: ServicesProvider): Route[] {
  const api = (handler: ServiceHandler): RouteHandler => handleErrors('api', async (request, context) => handler(await services(), request, context));
  const page = (handler: ServiceHandler): RouteHandler =>
    handleErrors('page', async (request, context) => {
      const resolved = await services();
      return allowSignOutRedirect(await handler(resolved, request, context), resolved.config.cloudInstance);
    });
  return [
    { name: 'health', methods: ['GET'], path: '/api/health', handler: handleErrors('api', health) },
    { name: 'home', methods: ['GET'], path: '/', handler: page(home) },
    { name: 'assets-css', methods: ['GET'], path: '/api/assets/app.css', handler: handleErrors('api', appCss) },
    { name: 'login', methods: ['GET'], path: '/api/login', handler: page(login) },
    { name: 'callback', methods: ['GET', 'POST'], path: '/api/callback', handler: page(callback) },
    { name: 'me', methods: ['GET'], path: '/api/me', handler: api(me) },
    { name: 'mail', methods: ['GET'], path: '/api/mail', handler: api(mail) },
    { name: 'logout', methods: ['GET', 'POST'], path: '/api/logout', handler: page(logout) },
    { name: 'forget', methods: ['GET', 'POST'], path: '/api/forget', handler: page(forget) },
  ];
}

/**
 * Every page carries the sign-out form, whose POST answers with a redirect to Entra's end-session
 * endpoint; browsers check that redirect against the page's CSP form-action, so the authority's
 * origin is allowed there (and nowhere else).
 */
function allowSignOutRedirect(response: HttpResponseInit, cloudInstance: string): HttpResponseInit {
  const headers = response.headers as Record<string, string> | undefined;
  if (!headers?.['Content-Security-Policy']) return response;
  return { ...response, headers: { ...headers, 'Content-Security-Policy': contentSecurityPolicy([new URL(cloudInstance).origin]) } };
}

/**
 * The Services of one instance, and the part of the app that needs them: building them, and the
 * handlers of every route that uses them, with their error handling.
 *
 * Cold start: nothing here is loaded at process start. src/routes.ts requires this module on the
 * first request that needs it, and the build (scripts/build.mjs) makes it a bundle of its own,
 * dist/services.js, next to dist/main.js and dist/serve.js: those stay small, so the Functions
 * registrations and /api/health never load msal-node, @azure/identity, Key Vault or Tables.
 *
 * Each bundle carries its own copy of the small modules both use (errors.ts, http/responses.ts,
 * web/pages.ts, ...; scripts/build.mjs lists them). That is only correct because no object made by
 * one copy reaches the other: isAppError() is `instanceof`, so an AppError thrown behind this module
 * is turned into a response here (serviceRoute), and the config_invalid error is built here too
 * (servicesFor), not in main.ts. Keep it so when adding to this module.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Sealer } from './auth/login-transaction';
import type { MsalAppFactory } from './auth/msal-app';
import type { SessionStore } from './auth/session-store';
import type { SpentTransactions } from './auth/spent-transactions';
import type { Sessions } from './auth/sessions';
import type { TokenService } from './auth/token-service';
import type { TokenCacheStore } from './cache/token-cache-store';
import type { Clock } from './clock';
import type { Config } from './config';
import { createServices, lazyServices } from './create-services';
import { AppError, ErrorCode } from './errors';
import { adminConsent, adminConsentCallback } from './functions/admin-consent';
import { callback } from './functions/callback';
import { devices } from './functions/devices';
import { forget } from './functions/forget';
import { frontchannelLogout } from './functions/frontchannel';
import type { SweepReport } from './functions/sweep';
import { home } from './functions/home';
import { login } from './functions/login';
import { logout } from './functions/logout';
import { mail } from './functions/mail';
import { me } from './functions/me';
import { sessionEnd, sessionsEndOthers, sessionsList } from './functions/sessions';
import { ready } from './functions/ready';
import type { GraphMailClient } from './graph/mail-client';
import { handleErrors, type ResponseKind } from './http/handle-errors';
import { contentSecurityPolicy } from './http/responses';
import type { RouteHandler } from './http/route';
import type { ClientCredentialProvider } from './secrets/types';
import type { StorageTraffic } from './storage/tables';
import type { Readiness } from './telemetry/readiness';
import { correlateFailure, tracedRequest } from './telemetry/request-span';
import { startTelemetryIfConfigured } from './telemetry/start';

export interface Services {
  readonly config: Config;
  readonly clock: Clock;
  readonly sessions: Sessions;
  readonly sessionStore: SessionStore;
  readonly tokenCacheStore: TokenCacheStore;
  /** Sign-in transactions already used at the callback (a replay never reaches Entra). */
  readonly spentTransactions: SpentTransactions;
  /** Table Storage requests sent by this instance (sessions and token cache). */
  readonly storageTraffic: StorageTraffic;
  readonly msal: MsalAppFactory;
  readonly credentials: ClientCredentialProvider;
  /**
   * Seals the sign-in transaction cookie with the current key ring; `sealed` are the transaction
   * cookies about to be opened (a key another instance already rotated to renews the ring first).
   */
  transactionSealer(sealed?: Iterable<string>): Promise<Sealer>;
  /** Seals mail paging cursors, bound to one user, so a cursor cannot point Graph calls elsewhere. */
  cursorSealer(sealed?: Iterable<string>): Promise<Sealer>;
  readonly tokens: TokenService;
  readonly graph: GraphMailClient;
  /** Whether Table Storage, Key Vault (when configured) and the authority answer: GET /api/ready. */
  readonly readiness: Readiness;
  /**
   * Counts a sweep run in the metrics (undefined: it failed). Here rather than in functions/sweep.ts,
   * which the entry bundles carry (src/timers.ts): the OpenTelemetry API stays in dist/services.js.
   */
  recordSweep(report: SweepReport | undefined): void;
}

export type ServicesProvider = () => Promise<Services>;

type ServiceHandler = (services: Services, request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

const HANDLERS = { home, login, callback, me, mail, logout, forget, sessionsList, sessionEnd, sessionsEndOthers, frontchannelLogout, devices, ready, adminConsent, adminConsentCallback } satisfies Record<string, ServiceHandler>;

/** The routes whose handler needs the services (src/routes.ts names them). */
export type ServiceRouteName = keyof typeof HANDLERS;

/**
 * The handler of one such route: resolves the services, runs it and answers any failure, as JSON
 * for the API or as a page for the browser, all inside the request's server span
 * (telemetry/request-span.ts; a no-op span when no exporter is configured).
 */
export function serviceRoute(kind: ResponseKind, name: ServiceRouteName, services: ServicesProvider): RouteHandler {
  // The OpenTelemetry SDK (dist/telemetry.js), only when an exporter is configured: before the
  // first request's span starts, so that span records too.
  startTelemetryIfConfigured(process.env);
  const handler: ServiceHandler = HANDLERS[name];
  if (kind === 'api') return tracedRequest(handleErrors('api', async (request, context) => handler(await services(), request, context), correlateFailure));
  return tracedRequest(
    handleErrors(
      'page',
      async (request, context) => {
        const resolved = await services();
        return allowSignOutRedirect(await handler(resolved, request, context), resolved.config.cloudInstance);
      },
      correlateFailure,
    ),
  );
}

/**
 * Every page carries the sign-out form, whose POST answers with a redirect to Entra's end-session
 * endpoint; browsers check that redirect against the page's CSP form-action, so the authority's
 * origin is allowed there (and nowhere else).
 */
function allowSignOutRedirect(response: HttpResponseInit, cloudInstance: string): HttpResponseInit {
  const headers = response.headers as Record<string, string> | undefined;
  if (!headers?.['Content-Security-Policy']) return response;
  const script = headers['Content-Security-Policy'].includes("script-src 'self'");
  return { ...response, headers: { ...headers, 'Content-Security-Policy': contentSecurityPolicy([new URL(cloudInstance).origin], { script }) } };
}

/**
 * The services of this instance, built on first use (a failure is not kept: the next request tries
 * again). Without a Config (the settings were invalid: `configError` says why, and was logged once
 * at start) every request that needs them answers 503 config_invalid.
 */
export function servicesFor(config: Config | undefined, configError?: unknown): ServicesProvider {
  return lazyServices(() => {
    if (!config) {
      throw new AppError(ErrorCode.CONFIG_INVALID, 'The app is not configured correctly. Operators: see the start-up log for the settings to fix.', {
        status: 503,
        cause: configError,
      });
    }
    // The timers reach the services without a route: their metrics need the SDK started too.
    startTelemetryIfConfigured(process.env);
    return createServices(config);
  });
}

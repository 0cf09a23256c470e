/**
 * Runs the app in-process for flow tests: the real route table on the local host, services built
 * from the emulated Azure's settings, a clock the test moves, and every log line captured so tests
 * can assert that no token, code, verifier or session id was ever logged.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../src/config';
import { createServices, lazyServices, type ServiceOverrides } from '../../src/create-services';
import { startLocalHost, type LocalHost } from '../../src/http/local-host';
import type { Route } from '../../src/http/route';
import { HSTS_HEADER, strictTransportSecurity } from '../../src/http/transport-security';
import { createRoutes } from '../../src/routes';
import type { Services } from '../../src/services';
import { emulators } from './emulators';

export interface TestClock {
  (): number;
  advance(ms: number): void;
  set(ms: number): void;
}

export function testClock(start = Date.now()): TestClock {
  let now = start;
  const clock = (() => now) as TestClock;
  clock.advance = (ms) => {
    now += ms;
  };
  clock.set = (ms) => {
    now = ms;
  };
  return clock;
}

export interface TestApp {
  readonly url: string;
  readonly host: LocalHost;
  readonly services: Services;
  readonly config: Config;
  readonly clock: TestClock;
  readonly logs: string[];
  stop(): Promise<void>;
}

export interface TestAppOptions {
  readonly env?: Record<string, string>;
  readonly clock?: TestClock;
  readonly overrides?: Omit<ServiceOverrides, 'clock' | 'log'>;
  /** Real time for the session/cache clock (needed when Entra's token expiry must line up). */
  readonly realClock?: boolean;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const logs: string[] = [];
  const clock = options.clock ?? testClock();
  let services: Services | undefined;
  const provider = lazyServices(() => services!);
  // Filled once the config is read (it needs the host's URL); the host looks routes up per request.
  const routes: Route[] = [];
  const headers: Record<string, string> = {};
  const host = await startLocalHost({
    routes,
    headers,
    port: 0,
    log: (level, fn, message) => logs.push(`${level} ${fn}: ${message}`),
  });
  const env = {
    ...emulators().env,
    // Tables are shared by every test file: each test's users (accounts) keep tests apart.
    PUBLIC_BASE_URL: host.url,
    ...options.env,
  };
  const config = loadConfig(env);
  const hsts = strictTransportSecurity(config.hstsIncludeSubDomains);
  routes.push(...createRoutes(provider, { strictTransportSecurity: hsts }));
  headers[HSTS_HEADER] = hsts;
  services = createServices(config, {
    ...(options.realClock ? {} : { clock }),
    ...options.overrides,
    log: { warn: (m) => logs.push(`warning cache: ${m}`), error: (m) => logs.push(`error cache: ${m}`) },
  });
  return { url: host.url, host, services, config, clock, logs, stop: () => host.stop() };
}

/** The storage round trips (reads, writes) `app` makes while `step` runs, counted at the SDK pipeline. */
export async function measureStorage(app: TestApp, step: () => Promise<unknown>): Promise<{ reads: number; writes: number }> {
  const before = { ...app.services.storageTraffic };
  await step();
  return { reads: app.services.storageTraffic.reads - before.reads, writes: app.services.storageTraffic.writes - before.writes };
}

export function randomKeyRing(kid = `k${randomBytes(3).toString('hex')}`): string {
  return `${kid}:${randomBytes(32).toString('base64')}`;
}

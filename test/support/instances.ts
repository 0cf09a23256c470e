/**
 * Several local host processes (`node dist/serve.js`) side by side, like a Function App scaled out
 * to several instances: each its own process, port and memory (MSAL apps, L1 cache, in-flight
 * refreshes), all sharing the emulated Entra, Graph and one Azurite, and one KEY_RING (a key ring
 * generated per process would make every instance unable to read the others' rows).
 *
 * - `buildApp()` builds dist/serve.js (esbuild, fast) so the processes run the current src/.
 * - `startInstances()` starts them on free ports, waits for each "Serving on" line, and restarts
 *   one on another port if the port was taken meanwhile.
 * - Each process's stdout and stderr are kept (tail); an instance that exits while the test still
 *   needs it prints its exit code and output at once, and again in `describe()`.
 * - `stopInstances()` sends SIGTERM, then SIGKILL after a grace period. A process-exit hook kills
 *   whatever is left if the test worker dies before afterAll.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../emulators/ports';
import { SETTINGS } from '../../src/config';
import type { Browser } from './http-client';
import { signIn } from './sign-in';

const ROOT = path.resolve(__dirname, '..', '..');
const SERVE = path.join(ROOT, 'dist', 'serve.js');
const READY = /Serving on (http:\/\/\S+)/;
const OUTPUT_TAIL = 16_000;

export interface Instance {
  readonly index: number;
  /** http://127.0.0.1:<port>, also its PUBLIC_BASE_URL. */
  readonly url: string;
  readonly pid: number;
  /** Set once the process has exited. */
  readonly exit: { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined;
  /** The tail of its stdout and stderr, interleaved. */
  output(): string;
  /** One paragraph for a failure message: index, url, pid, exit status and output tail. */
  describe(): string;
  stop(): Promise<void>;
}

/** Builds dist/serve.js from the current sources; throws with esbuild's output when it fails. */
export function buildApp(): void {
  build('app');
}

/** Builds one part of scripts/build.mjs (`--only`: the app, or one tool) from the current sources; throws with esbuild's output when it fails. */
export function build(only: 'app' | 'smoke' | 'doctor'): void {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), '--only', only], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) {
    throw new Error(`node scripts/build.mjs --only ${only} failed (status ${result.status}):\n${result.stdout}${result.stderr}`);
  }
}

export interface StartInstancesOptions {
  /** App settings for every instance (PUBLIC_BASE_URL, PORT and HOST are added per instance). */
  readonly env: Readonly<Record<string, string>>;
  /** How long one instance may take to print its "Serving on" line. */
  readonly readyTimeoutMs?: number;
}

/**
 * Starts `count` instances. On any failure the ones already started are stopped again and the
 * error carries the output of the one that failed.
 */
export async function startInstances(count: number, options: StartInstancesOptions): Promise<Instance[]> {
  const started: Instance[] = [];
  try {
    for (let index = 0; index < count; index++) started.push(await startInstance(index, options));
    return started;
  } catch (error) {
    await stopInstances(started);
    throw error;
  }
}

export async function stopInstances(instances: readonly (Instance | undefined)[]): Promise<void> {
  await Promise.all(instances.map((instance) => instance?.stop()));
}

/** The process environment without any app setting of the parent, plus the given settings. */
export function childEnv(settings: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const setting of SETTINGS) delete env[setting.name];
  for (const name of ['EMULATORS_JSON', 'PORT', 'HOST', 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER']) delete env[name];
  return { ...env, ...settings };
}

async function startInstance(index: number, options: StartInstancesOptions): Promise<Instance> {
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    try {
      return await spawnInstance(index, port, options);
    } catch (error) {
      lastError = error as Error;
      // Another process took the port between freePort() and the listen: try another one.
      if (!/EADDRINUSE/.test(lastError.message)) throw lastError;
    }
  }
  throw lastError!;
}

function spawnInstance(index: number, port: number, options: StartInstancesOptions): Promise<Instance> {
  const url = `http://127.0.0.1:${port}`;
  // An empty working directory: no local.settings.json of a developer can leak into the test.
  const cwd = mkdtempSync(path.join(tmpdir(), `bff-instance-${index}-`));
  const child: ChildProcess = spawn(process.execPath, [SERVE], {
    cwd,
    env: childEnv({ ...options.env, PUBLIC_BASE_URL: url, PORT: String(port), HOST: '127.0.0.1' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exit: Instance['exit'];
  let stopping = false;
  let ready = false;
  const append = (chunk: string): void => {
    output = (output + chunk).slice(-OUTPUT_TAIL);
  };
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);

  // Last resort: the worker is going away without afterAll (crash, forced exit). Synchronous only.
  const killOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      process.off('exit', killOnExit);
      rmSync(cwd, { recursive: true, force: true });
      if (!stopping && ready) {
        // It died while tests were using it: say so now, not only as a wall of failed requests.
        console.error(`instance ${index} (${url}, pid ${child.pid}) exited early: code ${code}, signal ${signal}\n--- its output ---\n${output.trim()}`);
      }
      resolve();
    });
  });

  const instance: Instance = {
    index,
    url,
    pid: child.pid ?? -1,
    get exit() {
      return exit;
    },
    output: () => output,
    describe: () =>
      `instance ${index} ${url} pid ${child.pid}: ${exit ? `exited (code ${exit.code}, signal ${exit.signal})` : 'running'}\n--- output ---\n${output.trim() || '(none)'}`,
    stop: async () => {
      stopping = true;
      if (exit) return;
      const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(kill);
    },
  };

  return new Promise<Instance>((resolve, reject) => {
    const fail = (message: string): void => {
      cleanup();
      void instance.stop().then(() => reject(new Error(`${message}\n${instance.describe()}`)));
    };
    const timer = setTimeout(() => fail(`instance ${index} did not print "Serving on" within ${options.readyTimeoutMs ?? 15_000} ms`), options.readyTimeoutMs ?? 15_000);
    const onData = (): void => {
      const match = READY.exec(output);
      if (!match) return;
      if (match[1] !== url) return fail(`instance ${index} serves on ${match[1]}, expected ${url}`);
      ready = true;
      cleanup();
      resolve(instance);
    };
    const onExit = (): void => fail(`instance ${index} exited before it was ready`);
    const onError = (error: Error): void => fail(`instance ${index} could not be started: ${error.message}`);
    function cleanup(): void {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    }
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Drives a browser through the whole sign-in on one instance (/api/login, the emulated Entra's
 * forms, /api/callback) for any user, created at runtime or seeded, and returns the session
 * cookie's value. Throws with the last page when it does not end signed in.
 */
export async function signInAs(browser: Browser, appUrl: string, user: Credentials): Promise<string> {
  const { last: page } = await signIn(browser, appUrl, user);
  const session = browser.jar.get(appUrl, '__Host-session');
  if (!page.url.startsWith(appUrl) || page.status >= 400 || !session) {
    throw new Error(`sign-in of ${user.username} through ${appUrl} did not complete: ${page.status} ${page.url}\n${page.body.slice(0, 500)}`);
  }
  return session.value;
}

/**
 * Makes a session usable on every instance: sessions live in Table Storage, but the cookie is
 * host-only (`__Host-`), so a browser would only send it to the origin that set it.
 */
export function shareSession(browser: Browser, value: string, origins: readonly string[]): void {
  for (const origin of origins) browser.jar.set(origin, '__Host-session', value);
}

/** Runs `work` over `items` with at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return results;
}

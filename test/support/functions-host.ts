/**
 * A stand-in for the Azure Functions Node.js worker: loads an entry bundle in a process of its own
 * with a stand-in for the @azure/functions-core module the worker provides (it captures the
 * registrations), then calls some of the captured HTTP handlers with the SDK's HttpRequest.
 *
 * The bundle is loaded by absolute path; the harness itself takes @azure/functions from this
 * repository (HARNESS_ROOT), so a bundle copied outside the repository still finds no node_modules
 * of its own, as on the server.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { SETTINGS } from '../../src/config';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Runs in the child: loads ENTRY under a stand-in host and calls some routes in turn. */
const HOST_STAND_IN = `
const Module = require('node:module');
const path = require('node:path');
const registered = new Map();
const metadata = [];
const core = {
  setProgrammingModel() {},
  registerFunction(meta, callback) {
    registered.set(meta.name, callback);
    metadata.push(meta);
    return { dispose() {} };
  },
  registerHook() {
    return { dispose() {} };
  },
};
const load = Module._load;
Module._load = function (request, ...rest) {
  return request === '@azure/functions-core' ? core : load.call(this, request, ...rest);
};
const entry = path.resolve(process.env.ENTRY);
const servicesLoaded = () => require.cache[path.join(path.dirname(entry), 'services.js')] !== undefined;
require(entry);
const harness = Module.createRequire(path.join(process.env.HARNESS_ROOT, 'package.json'));
const { HttpRequest, HttpResponse, InvocationContext } = harness('@azure/functions');
(async () => {
  const result = { registered: [...registered.keys()], metadata, servicesLoadedAtStart: servicesLoaded(), calls: [] };
  for (const [name, url] of JSON.parse(process.argv[1])) {
    const init = await registered.get(name)(
      new HttpRequest({ method: 'GET', url: 'http://localhost' + url, headers: {}, query: {}, params: {} }),
      new InvocationContext({ functionName: name, logHandler: () => {} }),
    );
    const response = new HttpResponse(init);
    const body = await response.text();
    result.calls.push({ name, status: response.status, body: body.slice(0, 2000), servicesLoaded: servicesLoaded() });
  }
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\\n');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

/** What the worker was given for one function (@azure/functions' toCoreFunctionMetadata). */
export interface FunctionMetadata {
  readonly name: string;
  readonly bindings: Record<string, { readonly type: string; readonly direction: string; readonly [key: string]: unknown }>;
}

export interface HostResult {
  readonly registered: string[];
  readonly metadata: FunctionMetadata[];
  readonly servicesLoadedAtStart: boolean;
  readonly calls: { name: string; status: number; body: string; servicesLoaded: boolean }[];
}

/**
 * Loads `entry` (default dist/main.js) under the stand-in host with exactly `settings` among the
 * app's settings, calls the given [function name, URL] pairs, and returns what happened. `cwd` is
 * the process's working folder, as the worker's is the function app root.
 */
export function underHost(
  settings: Readonly<Record<string, string>>,
  calls: readonly (readonly [string, string])[],
  entry = path.join(REPO_ROOT, 'dist', 'main.js'),
  cwd = REPO_ROOT,
): HostResult {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const setting of SETTINGS) delete env[setting.name];
  const child = spawnSync(process.execPath, ['-e', HOST_STAND_IN, JSON.stringify(calls)], {
    cwd,
    env: { ...env, ...settings, ENTRY: entry, HARNESS_ROOT: REPO_ROOT },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const line = child.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (child.status !== 0 || line === undefined) throw new Error(`the stand-in host failed (status ${child.status}):\n${child.stdout}${child.stderr}`);
  return JSON.parse(line.slice('RESULT '.length)) as HostResult;
}

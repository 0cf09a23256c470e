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
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SETTINGS } from '../../src/config';
import { emulators } from '../support/emulators';
import { buildApp } from '../support/instances';

const ROOT = path.resolve(__dirname, '..', '..');

/** Runs in the child: loads dist/main.js under a stand-in host and calls some routes in turn. */
const HOST_STAND_IN = `
const Module = require('node:module');
const path = require('node:path');
const registered = new Map();
const core = {
  setProgrammingModel() {},
  registerFunction(metadata, callback) {
    registered.set(metadata.name, callback);
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
const dist = path.resolve(process.env.BUNDLE_DIR ?? 'dist');
const servicesLoaded = () => require.cache[path.join(dist, 'services.js')] !== undefined;
require(path.join(dist, 'main.js'));
const { HttpRequest, HttpResponse, InvocationContext } = require('@azure/functions');
(async () => {
  const result = { registered: [...registered.keys()], servicesLoadedAtStart: servicesLoaded(), calls: [] };
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

interface HostResult {
  readonly registered: string[];
  readonly servicesLoadedAtStart: boolean;
  readonly calls: { name: string; status: number; body: string; servicesLoaded: boolean }[];
}

function underHost(settings: Readonly<Record<string, string>>, calls: readonly (readonly [string, string])[], bundleDir = path.join(ROOT, 'dist')): HostResult {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const setting of SETTINGS) delete env[setting.name];
  const child = spawnSync(process.execPath, ['-e', HOST_STAND_IN, JSON.stringify(calls)], {
    cwd: ROOT,
    env: { ...env, ...settings, BUNDLE_DIR: bundleDir },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const line = child.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (child.status !== 0 || line === undefined) throw new Error(`the stand-in host failed (status ${child.status}):\n${child.stdout}${child.stderr}`);
  return JSON.parse(line.slice('RESULT '.length)) as HostResult;
}

describe('the built bundles under a stand-in Functions host', () => {
  beforeAll(() => buildApp(), 60_000);

  it('registers every route and the timer, and answers /api/health without loading dist/services.js', () => {
    const result = underHost(emulators().env, [['health', '/api/health']]);
    expect(result.registered.sort()).toEqual(['assets-css', 'callback', 'forget', 'health', 'home', 'login', 'logout', 'mail', 'me', 'ready', 'sweepExpired']);
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
      const [health, me, home] = underHost(emulators().env, [['health', '/api/health'], ['me', '/api/me'], ['home', '/']], dir).calls;
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

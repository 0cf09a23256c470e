/**
 * The deploy package (`npm run package`, scripts/package.mjs) as the Functions worker loads it:
 * from a folder outside the repository (no node_modules anywhere above it, as on the server), its
 * package.json `main`, with @azure/functions-core provided. It registers every route of
 * src/routes.ts and every timer of src/timers.ts, with the methods, routes and schedules the code
 * declares, and answers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { functionsRouteTemplate } from '../../src/http/route';
import { createRoutes } from '../../src/routes';
import { createTimers } from '../../src/timers';
import { emulators } from '../support/emulators';
import { REPO_ROOT, underHost } from '../support/functions-host';
import { buildApp } from '../support/instances';

const noServices = async (): Promise<never> => {
  throw new Error('only the names and the triggers are read here');
};

describe('the deploy package under a stand-in Functions worker', () => {
  let dir: string;
  let pkg: string;

  beforeAll(() => {
    buildApp();
    dir = mkdtempSync(path.join(tmpdir(), 'deploy-package-'));
    pkg = path.join(dir, 'wwwroot');
    const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'package.mjs'), '--out', pkg], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`node scripts/package.mjs --out ${pkg} failed (status ${result.status}):\n${result.stdout}${result.stderr}`);
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The entry the worker loads: the package's package.json `main`, from the function app root. */
  function entry(): string {
    const { main } = JSON.parse(readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { main: string };
    return path.join(pkg, main);
  }

  it('sits where no node_modules can help it', () => {
    const above: string[] = [];
    for (let folder = pkg; ; folder = path.dirname(folder)) {
      if (existsSync(path.join(folder, 'node_modules'))) above.push(folder);
      if (path.dirname(folder) === folder) break;
    }
    expect(above).toEqual([]);
  });

  it('registers every route of src/routes.ts and the timer, as the code declares them', () => {
    const result = underHost(emulators().env, [], entry(), pkg);
    const registered = result.metadata.map(({ name, bindings }) => {
      const trigger = Object.values(bindings).find((b) => b.direction === 'in' && b.type.endsWith('Trigger'))!;
      return trigger.type === 'httpTrigger'
        ? { name, type: trigger.type, methods: trigger.methods, route: trigger.route, authLevel: trigger.authLevel }
        : { name, type: trigger.type, schedule: trigger.schedule };
    });
    const expected = [
      ...createRoutes(noServices).map((route) => ({ name: route.name, type: 'httpTrigger', methods: [...route.methods], route: functionsRouteTemplate(route.path), authLevel: 'anonymous' })),
      ...createTimers(noServices).map((timer) => ({ name: timer.name, type: 'timerTrigger', schedule: timer.schedule })),
    ];
    expect(registered.sort((a, b) => a.name.localeCompare(b.name))).toEqual(expected.sort((a, b) => a.name.localeCompare(b.name)));
    expect(registered.map((r) => r.name)).toEqual(expect.arrayContaining(['health', 'login', 'callback', 'logout', 'sweepExpired']));
  });

  it('answers: /api/health from the entry bundle, /api/me through the services bundle', () => {
    const result = underHost(emulators().env, [['health', '/api/health'], ['me', '/api/me']], entry(), pkg);
    expect(result.servicesLoadedAtStart).toBe(false);
    const [health, me] = result.calls;
    expect(health).toEqual({ name: 'health', status: 200, body: '{"status":"ok"}', servicesLoaded: false });
    expect(me).toMatchObject({ name: 'me', status: 401, servicesLoaded: true });
    expect(JSON.parse(me!.body)).toMatchObject({ error: 'login_required' });
  });
});

/**
 * Keeps `npm run bench` working: builds, runs the quick benchmark once as a child process (it
 * starts and stops its own emulators) and checks that it produced every figure. The values are the
 * benchmark's business, not a test's: nothing here asserts a number.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
/** The quick run repeats every warm and first-visit run 3 times; on a loaded machine it takes minutes. */
const RUN_TIMEOUT_MS = 420_000;

const SIDES = ['app', 'baseline'] as const;
/** Concurrency 1, 16, 64, and concurrency 1 again over the same users (a revisit). */
const CONCURRENCIES = ['1', '16', '64', '1-revisit'] as const;
const STORMS = ['oneUser', 'oneUserTwoInstances', 'manyUsers', 'oneUserNoReuseDetection'] as const;

/** Every figure the issue asks for, by its dotted path in results.json's `figures`. */
const REQUIRED_FIGURES: readonly string[] = [
  ...CONCURRENCIES.flatMap((c) =>
    SIDES.flatMap((side) =>
      [
        'requestsPerSecond',
        'latencyMs.p50',
        'latencyMs.p99',
        'overheadMs.p50',
        'storage.readsPerRequest',
        'storage.writesPerRequest',
        'storage.tokenCacheReadsPerRequest',
        'storage.tokenCacheWritesPerRequest',
        'entraTokenRequestsPerRequest',
        'graphRequestsPerRequest',
        'serverThreadMsPerRequest',
      ].map((figure) => `warm.${c}.${side}.${figure}`),
    ),
  ),
  // The rig's floor (bench/floor.ts): warm runs only, no revisit (it keeps nothing between requests).
  ...['1', '16', '64'].flatMap((c) => ['requestsPerSecond', 'latencyMs.p50', 'overheadMs.p50', 'serverThreadMsPerRequest'].map((figure) => `warm.${c}.floor.${figure}`)),
  // Issue 19: each run's share of first visits, medians with spreads, first-visit runs, app ÷ floor.
  ...['16', '64'].flatMap((c) => [
    `warm.${c}.app.firstVisitShare`,
    `warm.${c}.app.repetitions`,
    `warm.${c}.app.spread.requestsPerSecond.min`,
    `warm.${c}.app.spread.requestsPerSecond.max`,
    `warm.${c}.app.spread.serverCpuMsPerRequest.min`,
    `warm.${c}.app.spread.serverCpuMsPerRequest.max`,
    `warm.${c}.floor.spread.requestsPerSecond.min`,
    `firstVisit.${c}.app.requestsPerSecond`,
    `firstVisit.${c}.app.cpu.serverThreadMsPerRequest`,
    `firstVisit.${c}.app.firstVisitShare`,
    `firstVisit.${c}.app.storage.readsPerRequest`,
    `firstVisit.${c}.app.spread.serverCpuMsPerRequest.max`,
    `versusFloor.${c}.requestsPerSecond`,
    `versusFloor.${c}.serverCpuMsPerRequest`,
    `versusFloor.${c}.firstVisitOverWarmServerCpu`,
  ]),
  ...['1', '1-revisit'].map((c) => `versusFloor.${c}.requestsPerSecond`),
  ...['1', '1-revisit'].flatMap((run) =>
    SIDES.flatMap((side) => ['maxReads', 'maxWrites', 'maxTokenCacheReads', 'maxTokenCacheWrites'].map((f) => `warm.${run}.${side}.storage.worstRequest.${f}`)),
  ),
  ...STORMS.flatMap((storm) =>
    SIDES.flatMap((side) =>
      ['requests', 'ok', 'unauthorized', 'refreshTokenRedemptions', 'refreshTokenRequests', 'reuseDetectedRevocations', 'lostCacheUpdates', 'latencyMs.p50'].map(
        (figure) => `storm.${storm}.${side}.${figure}`,
      ),
    ),
  ),
  'cold.app.healthMs',
  'cold.app.mailMs',
  'cold.app.bundleLoadMs',
  'cold.app.bundleBytes',
  'cold.hello.healthMs',
  'cold.hello.bundleLoadMs',
  'cold.hello.bundleBytes',
  'memory.requests',
  'memory.rssBytes',
  // Telemetry on (OTLP/HTTP to a local sink) vs off (bench/telemetry.ts).
  ...['off', 'on'].flatMap((side) => ['requestsPerSecond', 'p50Ms', 'healthMs', 'mailMs'].map((figure) => `telemetry.${side}.${figure}`)),
  'telemetry.throughputRatio',
  'telemetry.exported.traces',
  'telemetry.exported.metrics',
];

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runQuickBench(out: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist-dev', 'bench.js'), '--quick', '--out', out], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-20_000)));
    // SIGTERM lets the bench stop its emulators; a bench that hangs is killed outright.
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    }, RUN_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run bench -- --quick', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'bench-test-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'runs and reports every figure, with PASS or MISS beside each target',
    async () => {
      if (!process.env['NODE_EXTRA_CA_CERTS']) throw new Error('run the tests with `npm test` (NODE_EXTRA_CA_CERTS must name the test CA)');
      const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
      expect({ status: build.status, output: build.status === 0 ? '' : `${build.stdout}${build.stderr}` }).toEqual({ status: 0, output: '' });

      const out = path.join(dir, 'results.json');
      const run = await runQuickBench(out);
      if (run.code !== 0) throw new Error(`the bench exited with ${run.code}:\n${run.stderr}`);

      expect(run.stdout).toContain('## App ÷ floor: warm runs and first visits');
      expect(run.stdout).toContain('## Warm /api/mail');
      expect(run.stdout).toContain('## Refresh storm');
      expect(run.stdout).toContain('## Cold start');
      expect(run.stdout).toContain('## Memory');
      expect(run.stdout).toContain('## Targets');

      const results = JSON.parse(readFileSync(out, 'utf8')) as {
        machine: { cpuCount: unknown };
        settings: { quick?: unknown; latency?: unknown };
        figures: Record<string, unknown>;
        targets: { name: string; measured: string; result: string }[];
      };
      const missing = REQUIRED_FIGURES.filter((figure) => typeof results.figures[figure] !== 'number' || !Number.isFinite(results.figures[figure]));
      expect(missing).toEqual([]);
      expect(typeof results.machine.cpuCount).toBe('number');
      expect(results.settings.quick).toBe(true);
      expect(results.settings.latency).toEqual({ storageMs: expect.any(Number), tokenMs: expect.any(Number), graphMs: expect.any(Number) });

      expect(results.targets.map((t) => t.name)).toEqual([
        'Warm request: 0 storage writes',
        'Warm request: at most 1 storage read (token cache)',
        'Warm request: at most 1 storage read (all, session included)',
        'Refresh storm, one user: 1 redemption',
        'Refresh storm: 0 forced sign-ins',
        'Throughput at concurrency 64: at least 2x the baseline',
        'App overhead p50 under 5% of the injected Graph latency',
        "App's own overhead p50, above the rig's floor (bench/floor.ts), under 5% of the injected Graph latency",
        'Cold start to first /api/health: at most 1.5x hello-world',
        'RSS after the memory run: under 150 MB',
        'Warm at the floor (c=16, 64, every user pre-warmed): throughput at least 0.9x the floor, server-thread CPU per request at most 1.25x',
        "First visit (c=16, 64, memory copies cleared): server-thread CPU per request at most 2x a warm request's, one storage read",
        'Telemetry on: throughput at concurrency 64 at least 0.9x telemetry off',
        'Telemetry on: cold start to first /api/health at most 1.5x hello-world',
      ]);
      for (const target of results.targets) {
        expect(['PASS', 'MISS']).toContain(target.result);
        expect(run.stdout).toContain(`| ${target.name} | ${target.measured} | ${target.result} |`);
      }
    },
    RUN_TIMEOUT_MS + 60_000,
  );
});

#!/usr/bin/env node
/**
 * Builds with esbuild's JS API (run from the repository root: `node scripts/build.mjs`):
 *
 *   src/main.ts             -> dist/main.js              Azure Functions entry (CJS, node20, bundled)
 *   src/serve.ts            -> dist/serve.js             local host (same settings)
 *   src/services.ts         -> dist/services.js          the services and the handlers that use them, required
 *                                                        by dist/main.js / dist/serve.js on first use (below)
 *   src/telemetry/sdk.ts    -> dist/telemetry.js         the OpenTelemetry SDK and exporters, required by
 *                                                        dist/services.js only when an exporter is configured
 *   emulators/cli.ts        -> dist-dev/emulators.mjs    the emulated Azure (ESM: oidc-provider and jose
 *                                                        are ESM-only; node_modules stay external)
 *   scripts/start-local.ts  -> dist-dev/start-local.js   `npm start` (when present)
 *   bench/bench.ts          -> dist-dev/bench.js         `npm run bench` (when present)
 *   bench/soak.ts           -> dist-dev/soak.js          `npm run soak` (when present)
 *   bench/hello/main.ts     -> dist-dev/hello/main.js    the bench's hello-world reference, bundled like dist/main.js
 *   src/tools/smoke-cli.ts  -> dist/tools/smoke.js       `npm run smoke`: Node built-ins only (checked below)
 *   src/tools/doctor-cli.ts -> dist/tools/doctor.js      `npm run doctor`: the app's modules, bundled
 *
 * Entries whose source does not exist are skipped. `--only app|dev|tools` builds one group, `--only emulators`
 * just the emulator bundle (what the jest global setup needs), `--only smoke|doctor` one tool.
 * The emulators never end up in dist/ (nothing in src/ imports them).
 *
 * Cold start (spawn -> first 200 of /api/health) pays for every byte dist/main.js or dist/serve.js
 * holds, so the app is split in two: esbuild does not split CommonJS, hence two bundles by hand.
 * The entry bundles hold the route table, the host glue and the light handlers; dist/services.js
 * holds msal-node, @azure/identity, Key Vault, Tables and the handlers that need them, and
 * src/routes.ts require()s it on the first request that needs it (servicesOnFirstUse below keeps
 * that one require external). A module both import is copied into both bundles: checkAppBundles()
 * makes each such module a reviewed decision (see src/services.ts on why the copies must never
 * exchange objects).
 */
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

const only = (() => {
  const i = process.argv.indexOf('--only');
  return i >= 0 ? process.argv[i + 1] : undefined;
})();

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  legalComments: 'none',
};

/** CommonJS bundled into ESM still calls require() for node: builtins; give it one. */
const esmRequireBanner =
  "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);";

/** The entry bundles: `require('./services')` in src/routes.ts stays a require of dist/services.js. */
const routesFile = realpathSync(path.join(root, 'src', 'routes.ts'));
const servicesOnFirstUse = {
  name: 'services-on-first-use',
  setup(b) {
    b.onResolve({ filter: /^\.\/services$/ }, (args) =>
      args.kind === 'require-call' && args.importer === routesFile ? { path: './services.js', external: true } : undefined,
    );
  },
};

/** dist/services.js: `require('./sdk')` in src/telemetry/start.ts stays a require of dist/telemetry.js. */
const telemetryStartFile = realpathSync(path.join(root, 'src', 'telemetry', 'start.ts'));
const telemetryOnDemand = {
  name: 'telemetry-on-demand',
  setup(b) {
    b.onResolve({ filter: /^\.\/sdk$/ }, (args) =>
      args.kind === 'require-call' && args.importer === telemetryStartFile ? { path: './telemetry.js', external: true } : undefined,
    );
  },
};

/**
 * dist/services.js: http/request.ts takes MAX_BODY_BYTES from http/local-host.ts, which imports
 * @azure/functions for the local host; nothing of it is used there, but esbuild keeps (and runs, on
 * load) a CommonJS package it cannot prove free of side effects. Importing @azure/functions has
 * none (it talks to the host only when app.* is called), so say so: the bundle then carries no
 * second copy of it (180 KiB, and module state such as app.setup()'s options).
 */
const functionsWithoutSideEffects = {
  name: 'functions-without-side-effects',
  setup(b) {
    b.onResolve({ filter: /^@azure\/functions$/ }, async (args) => {
      if (args.pluginData === 'inner') return undefined;
      const resolved = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'inner' });
      if (resolved.errors.length > 0) return { errors: resolved.errors };
      return { path: resolved.path, sideEffects: false };
    });
  },
};

const LIGHT_BUNDLES = ['dist/main.js', 'dist/serve.js'];
const SERVICES_BUNDLE = 'dist/services.js';

/**
 * src/ modules in an entry bundle and in dist/services.js alike, so each bundle runs its own copy.
 * Reviewed: nothing one copy makes reaches the other (each bundle answers the AppErrors it raises
 * and renders its own pages; the rest is plain values and functions such as MAX_BODY_BYTES).
 * Before adding a module here, check the same: a class copied this way fails `instanceof` across
 * the bundles, and module state (caches, counters) exists twice.
 */
const SHARED_WITH_SERVICES = [
  // Pure functions and constants (ALLOWED_TENANTS parsing for config.ts, the issuer rule); the
  // allow-list it returns is a plain object with a Set, never checked with instanceof.
  'src/auth/issuer.ts',
  'src/errors.ts',
  'src/http/cookies.ts',
  'src/http/handle-errors.ts',
  'src/http/html-escape.ts',
  'src/http/local-host.ts',
  'src/http/responses.ts',
  'src/web/pages.ts',
];

/**
 * Fails the build when an entry bundle shares a package with dist/services.js (it pulled in
 * something heavy, which also exists twice then) or an unreviewed src/ module (above).
 */
function checkAppBundles(metafiles) {
  const inputs = (outfile) => {
    const output = metafiles.get(outfile).outputs[outfile];
    return Object.entries(output.inputs)
      .filter(([, input]) => input.bytesInOutput > 0)
      .map(([file]) => file);
  };
  const packageOf = (file) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1];
  const services = inputs(SERVICES_BUNDLE);
  const servicesPackages = new Set(services.map(packageOf).filter(Boolean));
  const problems = [];
  for (const light of LIGHT_BUNDLES) {
    const files = inputs(light);
    const packages = [...new Set(files.map(packageOf).filter((p) => p && servicesPackages.has(p)))];
    if (packages.length > 0) {
      problems.push(
        `packages in both ${light} and ${SERVICES_BUNDLE}, each running its own copy (one the services alone need belongs in ${SERVICES_BUNDLE} alone: reach it through src/services.ts): ${packages.join(', ')}`,
      );
    }
    const shared = files.filter((f) => f.startsWith('src/') && services.includes(f) && !SHARED_WITH_SERVICES.includes(f));
    if (shared.length > 0) {
      problems.push(`now in both ${light} and ${SERVICES_BUNDLE} (see SHARED_WITH_SERVICES in scripts/build.mjs): ${shared.join(', ')}`);
    }
  }
  if (problems.length > 0) {
    console.error(`build: the app bundles are not split as they should be:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
}

const targets = [
  {
    group: 'app',
    entry: 'src/main.ts',
    options: { format: 'cjs', outfile: 'dist/main.js', external: ['@azure/functions-core'], plugins: [servicesOnFirstUse], metafile: true },
  },
  {
    group: 'app',
    entry: 'src/serve.ts',
    options: { format: 'cjs', outfile: 'dist/serve.js', external: ['@azure/functions-core'], plugins: [servicesOnFirstUse], metafile: true },
  },
  {
    group: 'app',
    entry: 'src/services.ts',
    options: {
      format: 'cjs',
      outfile: 'dist/services.js',
      external: ['@azure/functions-core'],
      plugins: [functionsWithoutSideEffects, telemetryOnDemand],
      metafile: true,
    },
  },
  {
    group: 'app',
    entry: 'src/telemetry/sdk.ts',
    options: { format: 'cjs', outfile: 'dist/telemetry.js', external: ['@azure/functions-core'], metafile: true },
  },
  {
    group: 'dev',
    name: 'emulators',
    entry: 'emulators/cli.ts',
    options: { format: 'esm', outfile: 'dist-dev/emulators.mjs', packages: 'external', banner: { js: esmRequireBanner } },
  },
  {
    group: 'dev',
    entry: 'scripts/start-local.ts',
    options: { format: 'cjs', outfile: 'dist-dev/start-local.js', packages: 'external' },
  },
  {
    group: 'dev',
    entry: 'bench/bench.ts',
    options: { format: 'cjs', outfile: 'dist-dev/bench.js', packages: 'external' },
  },
  {
    group: 'dev',
    entry: 'bench/soak.ts',
    options: { format: 'cjs', outfile: 'dist-dev/soak.js', packages: 'external' },
  },
  {
    group: 'dev',
    entry: 'bench/hello/main.ts',
    options: { format: 'cjs', outfile: 'dist-dev/hello/main.js', external: ['@azure/functions-core'] },
  },
  // Operator tools, run from a checkout; never loaded by the Functions host.
  {
    group: 'tools',
    name: 'smoke',
    entry: 'src/tools/smoke-cli.ts',
    options: { format: 'cjs', outfile: 'dist/tools/smoke.js', metafile: true },
  },
  {
    group: 'tools',
    name: 'doctor',
    entry: 'src/tools/doctor-cli.ts',
    options: { format: 'cjs', outfile: 'dist/tools/doctor.js', external: ['@azure/functions-core'] },
  },
];

/** `npm run smoke` runs wherever Node runs, with no `npm ci`: its bundle may hold no package at all. */
function checkSmokeBundle(metafile) {
  const packages = Object.keys(metafile.inputs).filter((file) => file.includes('node_modules/'));
  if (packages.length > 0) {
    console.error(`build: dist/tools/smoke.js must use Node built-ins only, but takes in: ${packages.join(', ')}`);
    process.exit(1);
  }
}

const started = Date.now();
const selected = targets.filter((t) => (only === undefined || t.group === only || t.name === only) && existsSync(t.entry));
let results;
try {
  results = await Promise.all(selected.map((t) => build({ ...common, entryPoints: [t.entry], ...t.options })));
} catch {
  // esbuild already printed the errors
  process.exit(1);
}
const metafiles = new Map(selected.map((t, i) => [t.options.outfile, results[i].metafile]).filter(([, m]) => m));
if ([...LIGHT_BUNDLES, SERVICES_BUNDLE].every((outfile) => metafiles.has(outfile))) checkAppBundles(metafiles);
if (metafiles.has('dist/tools/smoke.js')) checkSmokeBundle(metafiles.get('dist/tools/smoke.js'));
console.error(`build: ${selected.map((t) => t.options.outfile).join(', ')} in ${Date.now() - started} ms`);

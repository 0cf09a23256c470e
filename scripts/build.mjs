#!/usr/bin/env node
/**
 * Builds with esbuild's JS API (run from the repository root: `node scripts/build.mjs`):
 *
 *   src/main.ts             -> dist/main.js              Azure Functions entry (CJS, node20, bundled)
 *   src/serve.ts            -> dist/serve.js             local host (same settings)
 *   src/services.ts         -> dist/services.js          the services and the handlers that use them, required
 *                                                        by dist/main.js / dist/serve.js on first use (below)
 *   emulators/cli.ts        -> dist-dev/emulators.mjs    the emulated Azure (ESM: oidc-provider and jose
 *                                                        are ESM-only; node_modules stay external)
 *   scripts/start-local.ts  -> dist-dev/start-local.js   `npm start` (when present)
 *   bench/bench.ts          -> dist-dev/bench.js         `npm run bench` (when present)
 *   bench/hello/main.ts     -> dist-dev/hello/main.js    the bench's hello-world reference, bundled like dist/main.js
 *
 * Entries whose source does not exist are skipped. `--only app|dev` builds one group, `--only emulators`
 * just the emulator bundle (what the jest global setup needs).
 * The emulators never end up in dist/ (nothing in src/ imports them).
 *
 * Cold start (spawn -> first 200 of /api/health) pays for every byte dist/main.js or dist/serve.js
 * holds, so the app is split in two: esbuild does not split CommonJS, hence two bundles by hand.
 * The entry bundles hold the route table, the host glue and the light handlers; dist/services.js
 * holds msal-node, @azure/identity, Key Vault, Tables and the handlers that need them, and
 * src/routes.ts require()s it on the first request that needs it (servicesOnFirstUse below keeps
 * that one require external). A module both import is copied into both bundles (see
 * src/services.ts on why the copies must never exchange objects).
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

const targets = [
  {
    group: 'app',
    entry: 'src/main.ts',
    options: { format: 'cjs', outfile: 'dist/main.js', external: ['@azure/functions-core'], plugins: [servicesOnFirstUse] },
  },
  {
    group: 'app',
    entry: 'src/serve.ts',
    options: { format: 'cjs', outfile: 'dist/serve.js', external: ['@azure/functions-core'], plugins: [servicesOnFirstUse] },
  },
  {
    group: 'app',
    entry: 'src/services.ts',
    options: { format: 'cjs', outfile: 'dist/services.js', external: ['@azure/functions-core'], plugins: [functionsWithoutSideEffects] },
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
    entry: 'bench/hello/main.ts',
    options: { format: 'cjs', outfile: 'dist-dev/hello/main.js', external: ['@azure/functions-core'] },
  },
];

const started = Date.now();
const selected = targets.filter((t) => (only === undefined || t.group === only || t.name === only) && existsSync(t.entry));
try {
  await Promise.all(selected.map((t) => build({ ...common, entryPoints: [t.entry], ...t.options })));
} catch {
  // esbuild already printed the errors
  process.exit(1);
}
console.error(`build: ${selected.map((t) => t.options.outfile).join(', ')} in ${Date.now() - started} ms`);

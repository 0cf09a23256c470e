#!/usr/bin/env node
/**
 * Builds with esbuild's JS API (run from the repository root: `node scripts/build.mjs`):
 *
 *   src/main.ts             -> dist/main.js              Azure Functions entry (CJS, node20, bundled)
 *   src/serve.ts            -> dist/serve.js             local host (same settings)
 *   emulators/cli.ts        -> dist-dev/emulators.mjs    the emulated Azure (ESM: oidc-provider and jose
 *                                                        are ESM-only; node_modules stay external)
 *   scripts/start-local.ts  -> dist-dev/start-local.js   `npm start` (when present)
 *   bench/bench.ts          -> dist-dev/bench.js         `npm run bench` (when present)
 *   bench/hello/main.ts     -> dist-dev/hello/main.js    the bench's hello-world reference, bundled like dist/main.js
 *
 * Entries whose source does not exist are skipped. `--only app|dev` builds one group, `--only emulators`
 * just the emulator bundle (what the jest global setup needs).
 * The emulators never end up in dist/ (nothing in src/ imports them).
 */
import { existsSync } from 'node:fs';
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

const targets = [
  {
    group: 'app',
    entry: 'src/main.ts',
    options: { format: 'cjs', outfile: 'dist/main.js', external: ['@azure/functions-core'] },
  },
  {
    group: 'app',
    entry: 'src/serve.ts',
    options: { format: 'cjs', outfile: 'dist/serve.js', external: ['@azure/functions-core'] },
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

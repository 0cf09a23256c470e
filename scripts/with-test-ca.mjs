#!/usr/bin/env node
/**
 * Usage: node scripts/with-test-ca.mjs <command> [args...]
 *
 * Makes sure the local test CA exists (`.local/tls/ca.pem`, created on first use by
 * scripts/test-ca.cjs), then runs the command with NODE_EXTRA_CA_CERTS pointing at it, so every
 * Node process below (jest and its workers, the emulators, the app) trusts the emulators' TLS
 * certificates, with certificate checks left on. Stdio is inherited; the exit code is forwarded,
 * and so are SIGINT/SIGTERM/SIGHUP (a child killed by a signal makes this process die of it too).
 *
 * TLS_DIR overrides the CA folder (default: .local/tls at the repository root).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import testCa from './test-ca.cjs';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node scripts/with-test-ca.mjs <command> [args...]');
  process.exit(2);
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ca = testCa.ensureTestCa(process.env.TLS_DIR || path.join(root, testCa.DEFAULT_DIR));

// Like npm scripts: the project's node_modules/.bin comes first on PATH (so `jest` works directly).
const bin = path.join(root, 'node_modules', '.bin');
const pathKey = Object.keys(process.env).find((k) => k.toUpperCase() === 'PATH') ?? 'PATH';
const child = spawn(command, args, {
  stdio: 'inherit',
  env: { ...process.env, [pathKey]: [bin, process.env[pathKey]].filter(Boolean).join(path.delimiter), NODE_EXTRA_CA_CERTS: ca.certPath },
  // npx, npm and friends are .cmd shims on Windows
  shell: process.platform === 'win32',
});

const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const forward = (signal) => {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
for (const signal of forwarded) process.on(signal, forward);

child.on('error', (error) => {
  console.error(`with-test-ca: could not start ${command}: ${error.message}`);
  process.exit(127);
});

child.on('exit', (code, signal) => {
  for (const s of forwarded) process.off(s, forward);
  if (signal) {
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});

/**
 * Jest global setup: builds the emulator bundle and starts the emulated Azure once for the run
 * (`node dist-dev/emulators.mjs --ports free`), waits for its `EMULATORS_READY <json>` line and
 * publishes the JSON as process.env.EMULATORS_JSON (workers inherit it; see test/support/emulators.ts).
 * test/global-teardown.js stops it. If anything fails here, whatever was started is stopped again.
 *
 * The emulator process also stops by itself when this process goes away (its stdin is a pipe from
 * here: --stdin-lifeline), so a crashed jest leaves nothing behind.
 *
 * EMULATORS=off skips all of this (for runs that only need unit tests).
 */
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const READY = 'EMULATORS_READY ';
const START_TIMEOUT_MS = 90_000;

module.exports = async function globalSetup() {
  if (process.env.EMULATORS === 'off') return;

  const { ensureTestCa } = require('../scripts/test-ca.cjs');
  const ca = ensureTestCa(path.join(ROOT, '.local', 'tls'));
  if (process.env.NODE_EXTRA_CA_CERTS !== ca.certPath) {
    // Workers started from now on inherit it; this process (and --runInBand runs) only trust the CA
    // when started through scripts/with-test-ca.mjs, as `npm test` does.
    process.env.NODE_EXTRA_CA_CERTS = ca.certPath;
    process.stderr.write(
      '\n[global-setup] NODE_EXTRA_CA_CERTS was not set: run the tests with `npm test` or `node scripts/with-test-ca.mjs npx jest ...`.\n',
    );
  }

  const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), '--only', 'emulators'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) {
    throw new Error(`building the emulators failed (node scripts/build.mjs --only emulators):\n${build.stdout}${build.stderr}`);
  }

  const child = spawn(process.execPath, [path.join(ROOT, 'dist-dev', 'emulators.mjs'), '--ports', 'free', '--stdin-lifeline'], {
    cwd: ROOT,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.certPath },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-16_000);
    if (process.env.EMULATORS_DEBUG) process.stderr.write(chunk);
  });

  try {
    const json = await new Promise((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => reject(new Error(`the emulators did not get ready within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      const onData = (chunk) => {
        stdout += chunk;
        const line = stdout.split('\n').find((l) => l.startsWith(READY));
        if (line !== undefined && stdout.includes('\n', stdout.indexOf(READY))) {
          clearTimeout(timer);
          child.stdout.off('data', onData);
          child.off('exit', onExit);
          resolve(line.slice(READY.length).trim());
        }
      };
      const onExit = (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the emulators exited before they were ready (code ${code}, signal ${signal})`));
      };
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', onData);
      child.once('exit', onExit);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    JSON.parse(json); // fail here, not in every test, if the line is broken
    process.env.EMULATORS_JSON = json;
  } catch (error) {
    await stopChild(child);
    error.message += stderr ? `\n--- emulator output ---\n${stderr.trim()}` : '';
    throw error;
  }

  // Keep draining stdout so the child never blocks on a full pipe; nothing here keeps jest alive.
  child.stdout.resume();
  child.unref();
  child.stdout.unref?.();
  child.stderr.unref?.();
  child.stdin.unref?.();
  globalThis.__EMULATORS__ = { child, stderr: () => stderr };
};

/** SIGTERM, wait up to 15 s, then SIGKILL. */
function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

module.exports.stopChild = stopChild;

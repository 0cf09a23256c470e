/**
 * `npm start`: the whole app on this machine, no Azure account needed.
 *
 *  1. makes sure the test CA exists (.local/tls) and trusts it through NODE_EXTRA_CA_CERTS;
 *  2. starts the emulated Azure on fixed ports (dist-dev/emulators.mjs --ports fixed), with
 *     Azurite's data kept in .local/azurite;
 *  3. starts the local Functions host (dist/serve.js) against it on PORT (default 7071);
 *  4. prints the URL and the users to sign in as; Ctrl-C stops everything.
 *
 * The emulated Entra keeps its grants in memory: after a restart, sign in again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { EmulatorsInfo } from '../emulators/cli';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureTestCa } = require('./test-ca.cjs') as typeof import('./test-ca.cjs');

const ROOT = path.resolve(__dirname, '..');
const READY = 'EMULATORS_READY ';
const port = Number(process.env['PORT'] ?? 7071);
const publicBaseUrl = process.env['PUBLIC_BASE_URL'] ?? `http://localhost:${port}`;

const children: ChildProcess[] = [];
let stopping = false;

function stopAll(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  const force = setTimeout(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    process.exit(code);
  }, 5000);
  force.unref();
  void Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined))).then(() => process.exit(code));
}

async function startEmulators(caPath: string): Promise<EmulatorsInfo> {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'dist-dev', 'emulators.mjs'), '--ports', 'fixed', '--tables-location', path.join(ROOT, '.local', 'azurite'), '--public-base-url', publicBaseUrl],
    { cwd: ROOT, env: { ...process.env, NODE_EXTRA_CA_CERTS: caPath }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      stdout += chunk;
      const line = stdout.split('\n').find((l) => l.startsWith(READY));
      if (line && stdout.includes('\n', stdout.indexOf(READY))) resolve(JSON.parse(line.slice(READY.length)) as EmulatorsInfo);
    });
    child.once('exit', (code) => reject(new Error(`the emulators stopped (exit code ${code}); is another npm start running on ports 7443-7445 or 10002?`)));
  });
}

async function main(): Promise<void> {
  const ca = ensureTestCa(path.join(ROOT, '.local', 'tls'));
  const info = await startEmulators(ca.certPath);
  const tenants = tenantSettings(info);
  const host = spawn(process.execPath, [path.join(ROOT, 'dist', 'serve.js')], {
    cwd: ROOT,
    env: { ...process.env, ...info.env, ...tenants, PUBLIC_BASE_URL: publicBaseUrl, PORT: String(port), NODE_EXTRA_CA_CERTS: ca.certPath },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(host);
  host.once('exit', (code) => {
    if (!stopping) {
      console.error(`The app stopped (exit code ${code}).`);
      stopAll(code ?? 1);
    }
  });

  console.log(`
  Inbox Glance is running on the emulated Azure.

    Open        ${publicBaseUrl}/
    Health      ${publicBaseUrl}/api/health
    Entra       ${info.entra.url}${info.entra.tenantId}/v2.0/.well-known/openid-configuration
    Graph       ${info.graph.url}
    Key Vault   ${info.keyVault.url}
    Tables      ${info.tables.endpoint}

  TENANT_ID=${tenants.TENANT_ID}, ALLOWED_TENANTS=${tenants.ALLOWED_TENANTS || '(unset)'}
  Sign in as (password ${info.entra.users[0]?.password ?? ''}):
${info.entra.tenants
  .map((t) => `    ${t.name} (${t.personal ? 'personal accounts' : 'organization'} ${t.id})\n${info.entra.users.filter((u) => u.tenantId === t.id).map((u) => `      ${u.username.padEnd(24)} ${u.name}`).join('\n')}`)
  .join('\n')}

  Ctrl-C stops everything.
`);
}

/**
 * npm start serves every emulated tenant: TENANT_ID=common with both organizations and personal
 * accounts allowed, unless TENANT_ID (and ALLOWED_TENANTS) are set in the environment.
 */
function tenantSettings(info: EmulatorsInfo): { TENANT_ID: string; ALLOWED_TENANTS: string } {
  const tenantId = process.env['TENANT_ID'] ?? 'common';
  const allowed = process.env['ALLOWED_TENANTS'] ?? (tenantId === 'common' ? [...info.entra.tenants.filter((t) => !t.personal).map((t) => t.id), 'consumers'].join(',') : '');
  return { TENANT_ID: tenantId, ALLOWED_TENANTS: allowed };
}

process.once('SIGINT', () => stopAll(0));
process.once('SIGTERM', () => stopAll(0));
main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  stopAll(1);
});

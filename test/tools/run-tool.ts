/**
 * Runs a built tool (dist/tools/smoke.js, dist/tools/doctor.js) as a person would: its own process,
 * an empty working directory unless given, none of the parent's app settings. Asynchronous, so an
 * app served from the test's own process can answer it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { childEnv } from '../support/instances';

const ROOT = path.resolve(__dirname, '..', '..');

export interface ToolRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout, one entry per line, without the trailing empty one. */
  readonly lines: string[];
}

export function runTool(
  name: 'smoke' | 'doctor',
  args: readonly string[],
  options: { env?: Readonly<Record<string, string>>; cwd?: string; timeoutMs?: number } = {},
): Promise<ToolRun> {
  const cwd = options.cwd ?? mkdtempSync(path.join(tmpdir(), `bff-${name}-`));
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'tools', `${name}.js`), ...args], {
    cwd,
    env: childEnv(options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} ${args.join(' ')} did not finish in time:\n${stdout}${stderr}`));
    }, options.timeoutMs ?? 40_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (options.cwd === undefined) rmSync(cwd, { recursive: true, force: true });
      resolve({ code, stdout, stderr, lines: stdout.split('\n').filter((line, i, all) => line !== '' || i < all.length - 1) });
    });
  });
}

/**
 * The emulated Azure for the benchmark: `node dist-dev/emulators.mjs --ports free --stdin-lifeline`
 * as a child process (the same bundle and READY protocol test/global-setup.js uses), plus small
 * clients for the admin routes the benchmark needs. The child also stops when this process dies
 * (its stdin is a pipe from here).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { EmulatorsInfo } from '../emulators/cli';

export type { EmulatorsInfo };

const READY = 'EMULATORS_READY ';
const START_TIMEOUT_MS = 90_000;

export interface RunningEmulators {
  readonly info: EmulatorsInfo;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export async function startEmulators(root: string): Promise<RunningEmulators> {
  const child = spawn(process.execPath, [path.join(root, 'dist-dev', 'emulators.mjs'), '--ports', 'free', '--stdin-lifeline'], {
    cwd: root,
    env: process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8000);
  });
  const stop = (): Promise<void> => stopChild(child);
  try {
    const json = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => reject(new Error(`the emulators did not get ready within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      const onData = (chunk: string): void => {
        stdout += chunk;
        const start = stdout.indexOf(READY);
        const end = start >= 0 ? stdout.indexOf('\n', start) : -1;
        if (end >= 0) {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.off('exit', onExit);
          resolve(stdout.slice(start + READY.length, end).trim());
        }
      };
      const onExit = (code: number | null, signal: string | null): void => {
        clearTimeout(timer);
        reject(new Error(`the emulators exited before they were ready (code ${code}, signal ${signal})`));
      };
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', onData);
      child.once('exit', onExit);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    child.stdout!.resume();
    return { info: JSON.parse(json) as EmulatorsInfo, child, stop };
  } catch (error) {
    await stop();
    (error as Error).message += stderr ? `\n--- emulator output ---\n${stderr.trim()}` : '';
    throw error;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** One call to an emulator's admin routes (`/_emulator/<route>`): its JSON answer; throws on a non-2xx. */
export async function adminCall<T>(baseUrl: string, method: string, route: string, body?: unknown): Promise<T> {
  const url = new URL(`_emulator/${route}`, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).href;
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url} answered ${response.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export interface EntraSettings {
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  refreshTokenReuseDetection: boolean;
  latencyMs: number;
}

export interface EntraStats {
  tokenRequests: number;
  tokenRequestsByGrant: Record<string, number>;
  tokenErrors: Record<string, number>;
  refreshTokenRedemptions: number;
  refreshTokenReuseDetected: number;
  rotatedRefreshTokenRedemptionAttempts: number;
  byUser: Record<string, { signIns: number; authorizationCodeRedemptions: number; refreshTokenRedemptions: number }>;
}

export interface EntraUser {
  readonly username: string;
  readonly password: string;
  readonly name: string;
  readonly oid: string;
}

export interface GraphSettings {
  latencyMs: number;
}

export interface GraphStats {
  requests: number;
  byStatus: Record<string, number>;
}

/** Admin access to the emulated Entra (default client) and Graph. */
export class EmulatorAdmin {
  constructor(readonly info: EmulatorsInfo) {}

  entraSettings(patch: Partial<EntraSettings>): Promise<EntraSettings> {
    return adminCall(this.info.entra.url, 'PUT', 'settings', patch);
  }
  entraStats(): Promise<EntraStats> {
    return adminCall(this.info.entra.url, 'GET', 'stats');
  }
  async resetEntraStats(): Promise<void> {
    await adminCall(this.info.entra.url, 'POST', 'stats/reset');
  }
  createUser(user: Partial<EntraUser> = {}): Promise<EntraUser> {
    return adminCall(this.info.entra.url, 'POST', 'users', user);
  }
  graphSettings(patch: Partial<GraphSettings>): Promise<GraphSettings> {
    return adminCall(this.info.graph.url, 'PUT', 'settings', patch);
  }
  graphStats(): Promise<GraphStats> {
    return adminCall(this.info.graph.url, 'GET', 'stats');
  }
  async resetGraphStats(): Promise<void> {
    await adminCall(this.info.graph.url, 'POST', 'stats/reset');
  }
}

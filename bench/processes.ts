/**
 * Child processes for the cold-start and memory runs: the app's local host (`node dist/serve.js`)
 * and the hello-world bundle, each on a free port, in an empty working directory (so no
 * local.settings.json of the developer's sneaks in), with the emulators' settings in the environment.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../emulators/ports';
import { stopChild } from './emulators';

export interface Served {
  readonly child: ChildProcess;
  readonly url: string;
  /** process.hrtime.bigint() just before spawn. */
  readonly spawnedAt: bigint;
  output(): string;
  stop(): Promise<void>;
  /** The child's own memory figures; only for a child started with `probe: true`. */
  memory(options?: { gc?: boolean }): Promise<MemoryBreakdown>;
}

/** Where a process's memory is, from inside it (process.memoryUsage, V8) and from /proc. */
export interface MemoryBreakdown {
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  /** Memory of C++ objects bound to JavaScript objects, arrayBuffers included. */
  readonly external: number;
  readonly arrayBuffers: number;
  /** V8's heap spaces: size (reserved and committed) and used, bytes. */
  readonly spaces: Record<string, { size: number; used: number }>;
  /** V8 malloc'ed memory (outside the heap). */
  readonly mallocedMemory: number;
  /** /proc/<pid>/status: anonymous memory vs mapped files (the node binary, shared libraries). */
  readonly rssAnon: number;
  readonly rssFile: number;
  /** Whether a full garbage collection ran just before these figures (`gc: true`, needs --expose-gc). */
  readonly afterGc: boolean;
}

/**
 * Loaded with --require into a child started with `probe: true`: answers {type:'memory'} on the
 * IPC channel with its memoryUsage() and V8's heap figures. The channel is unref'd, so it keeps
 * nothing alive, and the app's code is not touched.
 */
const PROBE = `'use strict';
const v8 = require('node:v8');
process.channel && process.channel.unref();
process.on('message', (m) => {
  if (!m || m.type !== 'memory') return;
  const afterGc = Boolean(m.gc && typeof globalThis.gc === 'function');
  if (afterGc) globalThis.gc();
  const u = process.memoryUsage();
  const spaces = {};
  for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = { size: s.space_size, used: s.space_used_size };
  process.send({ type: 'memory', id: m.id, value: { rss: u.rss, heapTotal: u.heapTotal, heapUsed: u.heapUsed, external: u.external, arrayBuffers: u.arrayBuffers, spaces, mallocedMemory: v8.getHeapStatistics().malloced_memory, afterGc } });
});
`;

/**
 * The V8 heap limits Node gives itself in a process whose memory is limited to `memoryMb` (a
 * container's limit, as on a Flex Consumption instance: Node sizes V8's heap from the constrained
 * memory), written as the flags that set the same limits: old generation = memory / 2 (a quarter
 * of the memory times V8's heap-limit multiplier of 2 on 64-bit without pointer compression, at
 * most 4096 MB); semi-space = old generation / 128 (/ 256 at 256 MB or less), 1 to 16 MB.
 * Checked with Node 20 under a memory cgroup of 512, 2048 and 4096 MB: heap_size_limit 259, 1048
 * and 2096 MB, exactly what these flags give (old generation + 3 semi-spaces).
 */
export function instanceHeapFlags(memoryMb: number): string[] {
  const oldMb = Math.min(4096, Math.floor(memoryMb / 2));
  const semiMb = Math.min(16, Math.max(1, Math.floor(oldMb / (oldMb <= 256 ? 256 : 128))));
  return [`--max-old-space-size=${oldMb}`, `--max-semi-space-size=${semiMb}`];
}

const children = new Set<ChildProcess>();
let workDir: string | undefined;

function emptyWorkDir(): string {
  workDir ??= mkdtempSync(path.join(tmpdir(), 'bench-'));
  return workDir;
}

/** Stops every child still running and removes the working directory (also on error paths). */
export async function stopAllChildren(): Promise<void> {
  await Promise.allSettled([...children].map((child) => stopChild(child, 3000)));
  children.clear();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  workDir = undefined;
}

export interface ServeOptions {
  /** Node options before the script (V8 flags, --require, ...). */
  readonly nodeArgs?: readonly string[];
  /** Preload the memory probe and open an IPC channel to it, for `memory()`. */
  readonly probe?: boolean;
}

export async function serve(script: string, env: Record<string, string>, options: ServeOptions = {}): Promise<Served> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const nodeArgs = [...(options.nodeArgs ?? [])];
  if (options.probe) {
    const probe = path.join(emptyWorkDir(), 'memory-probe.cjs');
    writeFileSync(probe, PROBE);
    nodeArgs.push('--require', probe);
  }
  const spawnedAt = process.hrtime.bigint();
  const child = spawn(process.execPath, [...nodeArgs, script], {
    cwd: emptyWorkDir(),
    env: { ...process.env, ...env, PUBLIC_BASE_URL: url, PORT: String(port), HOST: '127.0.0.1' },
    stdio: options.probe ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let nextId = 0;
  return {
    child,
    url,
    spawnedAt,
    output: () => output,
    stop: async () => {
      await stopChild(child, 3000);
      children.delete(child);
    },
    memory: (memoryOptions = {}) =>
      new Promise<MemoryBreakdown>((resolve, reject) => {
        if (!options.probe || !child.connected) return reject(new Error('memory(): the child was not started with probe: true, or has exited'));
        const id = nextId++;
        const timer = setTimeout(() => {
          child.off('message', onMessage);
          reject(new Error('memory(): the child did not answer in 10 s'));
        }, 10_000);
        const onMessage = (message: { type?: string; id?: number; value?: Omit<MemoryBreakdown, 'rssAnon' | 'rssFile'> }): void => {
          if (message?.type !== 'memory' || message.id !== id || !message.value) return;
          clearTimeout(timer);
          child.off('message', onMessage);
          const proc = rssOf(child.pid!);
          resolve({ ...message.value, rssAnon: proc.anon ?? Number.NaN, rssFile: proc.file ?? Number.NaN });
        };
        child.on('message', onMessage);
        child.send({ type: 'memory', id, gc: memoryOptions.gc === true });
      }),
  };
}

/** GET path; resolves the status, or 0 when the connection failed. */
export function get(url: string, path: string, cookie?: string): Promise<number> {
  return new Promise((resolve) => {
    const target = new URL(path, url);
    const req = request({ host: target.hostname, port: target.port, path: target.pathname + target.search, headers: cookie ? { cookie, connection: 'close' } : { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/**
 * Polls `path` every `pollMs` until it answers 200; returns ms since the process was spawned.
 * Throws when the process exits or `timeoutMs` passes first.
 */
export async function msUntil200(served: Served, path: string, options: { cookie?: string; pollMs?: number; timeoutMs?: number } = {}): Promise<number> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    const status = await get(served.url, path, options.cookie);
    if (status === 200) return Number(process.hrtime.bigint() - served.spawnedAt) / 1e6;
    if (served.child.exitCode !== null) throw new Error(`${path}: the process exited (${served.child.exitCode}): ${served.output()}`);
    if (Date.now() > deadline) throw new Error(`${path} did not answer 200 in time (last ${status}): ${served.output()}`);
    if (status === 0) await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 2));
    else throw new Error(`${path} answered ${status}: ${served.output()}`);
  }
}

/**
 * Resident set size and its peak of a process, in bytes (Linux /proc; ps elsewhere), and on Linux
 * its anonymous and file-backed parts.
 */
export function rssOf(pid: number): { rss: number; peak: number | undefined; anon?: number; file?: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number | undefined => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
      return match ? Number(match[1]) * 1024 : undefined;
    };
    const anon = kb('RssAnon');
    const file = kb('RssFile');
    return { rss: kb('VmRSS') ?? Number.NaN, peak: kb('VmHWM'), ...(anon !== undefined ? { anon } : {}), ...(file !== undefined ? { file } : {}) };
  } catch {
    try {
      return { rss: Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) * 1024, peak: undefined };
    } catch {
      return { rss: Number.NaN, peak: undefined };
    }
  }
}

/**
 * Time to require() a bundle in a fresh process, measured inside that process (ms), for `runs`
 * processes. The bundle's own top-level code runs (the Functions registrations), no server starts.
 */
export async function loadTimes(script: string, runs: number, env: Record<string, string>): Promise<number[]> {
  const times: number[] = [];
  const code = `const t=process.hrtime.bigint();require(${JSON.stringify(path.resolve(script))});process.stdout.write('LOAD_MS '+(Number(process.hrtime.bigint()-t)/1e6)+'\\n');process.exit(0)`;
  for (let i = 0; i < runs; i++) {
    const child = spawn(process.execPath, ['-e', code], { cwd: emptyWorkDir(), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    child.stderr!.resume();
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
    children.delete(child);
    const match = /LOAD_MS ([\d.]+)/.exec(out);
    if (!match) throw new Error(`loading ${script} printed no time: ${out}`);
    times.push(Number(match[1]));
  }
  return times;
}

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  clockTicks ??= (() => {
    try {
      return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      return 100;
    }
  })();
  return clockTicks;
}

/** utime + stime of a /proc stat line, in clock ticks. */
function statTicks(stat: string): number {
  // Fields after the command name (which may hold spaces): state is index 0, utime 11, stime 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * CPU time (user + system, ms) of this process's main thread alone: the server under test runs
 * there, the load driver in a worker thread (Linux /proc; NaN elsewhere). Resolution: one clock tick.
 */
export function mainThreadCpuMs(): number {
  try {
    return (statTicks(readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')) * 1000) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** CPU time (user + system, ms) of one process so far (Linux /proc; NaN elsewhere). */
export function cpuMsOf(pid: number): number {
  try {
    return (statTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) * 1000) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** The whole machine's CPU time so far, ms summed over every CPU, from /proc/stat (NaN elsewhere). */
export function machineCpuMs(): { busy: number; idle: number; steal: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
    const toMs = 1000 / ticksPerSecond();
    return { busy: (user + nice + system + irq + softirq) * toMs, idle: (idle + iowait) * toMs, steal: steal * toMs };
  } catch {
    return { busy: Number.NaN, idle: Number.NaN, steal: Number.NaN };
  }
}

/** CPU time (user + system, ms) of a process and all its live descendants (Linux /proc; NaN elsewhere). */
export function cpuMsOfTree(pid: number): number {
  const clockTicks = ticksPerSecond();
  let ticks = 0;
  const visit = (p: number): boolean => {
    try {
      ticks += statTicks(readFileSync(`/proc/${p}/stat`, 'utf8'));
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim();
        for (const child of children ? children.split(/\s+/) : []) visit(Number(child));
      }
      return true;
    } catch {
      return false;
    }
  };
  return visit(pid) ? (ticks * 1000) / clockTicks : Number.NaN;
}

/**
 * Azurite's Table service as a child process, for local runs and tests (never bundled into the app).
 *
 * Listens on 127.0.0.1 only. Data is in memory unless `location` names a folder; with a folder the
 * data survives `restart()` (Azurite saves its database when it closes on SIGINT), which is how the
 * "storage goes down and comes back" tests check that nothing was lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createServer, connect } from 'node:net';
import path from 'node:path';

/** Azurite's well-known development account: public, documented, accepted by nothing but emulators. */
export const DEVSTORE_ACCOUNT = 'devstoreaccount1';
export const DEVSTORE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** Port to listen on; default: a free one. */
  readonly port?: number;
  /** Folder for Azurite's database; default: in memory (data lost on stop). */
  readonly location?: string;
  /** Milliseconds to wait for Azurite to accept connections. */
  readonly startTimeoutMs?: number;
}

export interface Azurite {
  /** For `TableClient.fromConnectionString(cs, table, { allowInsecureConnection: true })`. */
  readonly connectionString: string;
  /** `http://127.0.0.1:<port>/devstoreaccount1` */
  readonly endpoint: string;
  readonly port: number;
  /** Stops the process and waits for it to exit. */
  stop(): Promise<void>;
  /** Stops and starts again on the same port and location (in-memory data does not survive). */
  restart(): Promise<void>;
  /** Whether the process is currently running. */
  readonly running: boolean;
}

/**
 * The `azurite-table` bin of the installed package, resolved from the working directory (the repo
 * root) so the same code works under jest (CommonJS) and in the ESM emulator bundle.
 */
function azuriteTableBin(): string {
  const resolve = createRequire(path.join(process.cwd(), 'package.json')).resolve;
  return path.join(path.dirname(resolve('azurite/package.json')), 'dist', 'src', 'table', 'main.js');
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  const fixedPort = options.port;
  let port = fixedPort ?? (await freePort());
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        child = await spawnAzurite(port, options.location, options.startTimeoutMs ?? 20_000);
        return;
      } catch (error) {
        // Someone took the port between our probe and Azurite's listen: pick another, unless it was given.
        if (fixedPort !== undefined || attempt >= 3) throw error;
        port = await freePort();
      }
    }
  };
  await launch();

  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (running) await stopProcess(running);
  };

  const endpoint = `http://127.0.0.1:${port}/${DEVSTORE_ACCOUNT}`;
  return {
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${DEVSTORE_ACCOUNT};AccountKey=${DEVSTORE_KEY};TableEndpoint=${endpoint};`,
    endpoint,
    port,
    stop,
    async restart() {
      await stop();
      child = await spawnAzurite(port, options.location, options.startTimeoutMs ?? 20_000);
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
  };
}

/** Listens on port 0, reads the port the OS chose, closes. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('could not read the port of a probe socket');
  return address.port;
}

async function spawnAzurite(port: number, location: string | undefined, timeoutMs: number): Promise<ChildProcess> {
  const args = [
    azuriteTableBin(),
    '--disableTelemetry',
    '--silent',
    '--skipApiVersionCheck',
    '--loose',
    '--tableHost',
    '127.0.0.1',
    '--tablePort',
    String(port),
    ...(location === undefined ? ['--inMemoryPersistence'] : ['--location', location]),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: location ?? process.cwd() });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`Azurite exited before accepting connections (code ${String(code)}, signal ${String(signal)}): ${output.trim()}`);
  });
  exited.catch(() => {}); // observed below; never an unhandled rejection
  try {
    await Promise.race([waitForPort(port, timeoutMs), exited]);
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  return child;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Azurite did not accept connections on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** SIGINT lets Azurite save its database and close; SIGKILL if it does not exit in time. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = once(child, 'exit');
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  try {
    await exit;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Free TCP ports on the loopback interface, for servers that must be told their port up front
 * (Azurite as a child process, fixed-layout dev runs). Servers we create ourselves should rather
 * listen on port 0 and read the port back (`listen`), which has no race.
 */
import * as net from 'node:net';

/** A port that was free a moment ago on `host` (another process may still take it: retry on EADDRINUSE). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether `port` can be bound on `host` right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Starts `server` listening on `port` (0 = any) at `host`; resolves the bound port. */
export function listen(server: net.Server, port: number, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** Small HTTP helpers shared by the emulators. */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Reads a JSON request body (an empty body reads as `{}`), refusing more than `limit` bytes. */
export function readJson(req: http.IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new Error('body is not valid JSON'));
      }
    });
  });
}

/** Serves `handler` over HTTPS (or HTTP without `tls`) on host:port (0 = a free port); resolves once listening. */
export async function listen(
  handler: http.RequestListener,
  options: { readonly host?: string | undefined; readonly port?: number | undefined; readonly tls?: { readonly cert: string; readonly key: string } | undefined },
): Promise<{ server: http.Server; port: number; baseUrl: string }> {
  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return { server, port, baseUrl: `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/` };
}

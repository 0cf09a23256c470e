/**
 * The cold-start reference: a hello-world `@azure/functions` handler, bundled exactly like
 * src/main.ts (scripts/build.mjs: CommonJS, node20, everything bundled but @azure/functions-core)
 * to dist-dev/hello/main.js.
 *
 * Loaded by the Functions host it registers its one function, as src/main.ts registers the route
 * table. Run directly (`PORT=... node dist-dev/hello/main.js`) it serves the same handler on
 * node:http, building the same HttpRequest / InvocationContext objects the app's local host builds,
 * so the benchmark can time "process start to first 200 of /api/health" for both the same way.
 */
import { createServer } from 'node:http';
import { app, HttpRequest, HttpResponse, InvocationContext, type HttpResponseInit } from '@azure/functions';

app.setup({ enableHttpStream: false });

export async function health(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return { status: 200, jsonBody: { status: 'ok' } };
}

app.http('health', { methods: ['GET'], authLevel: 'anonymous', route: 'api/health', handler: health });

if (require.main === module && process.env['PORT'] !== undefined) {
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
      if (url.pathname !== '/api/health' || req.method !== 'GET') {
        res.writeHead(404).end();
        return;
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
      const request = new HttpRequest({ method: 'GET', url: url.href, headers, query: Object.fromEntries(url.searchParams), params: {} });
      const response = new HttpResponse(await health(request, new InvocationContext({ functionName: 'health' })));
      const body = Buffer.from(await response.arrayBuffer());
      res.statusCode = response.status;
      response.headers.forEach((value, name) => res.setHeader(name, value));
      res.setHeader('Content-Length', body.length);
      res.end(body);
    })().catch(() => res.destroy());
  });
  server.listen(Number(process.env['PORT']), process.env['HOST'] ?? '127.0.0.1', () => console.log(`Serving on ${process.env['PORT']}`));
  const stop = (): void => void server.close(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

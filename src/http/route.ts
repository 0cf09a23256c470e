import type { HttpMethod, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';

export type RouteHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/**
 * One HTTP function, declared once. `path` is the public path ('/api/health', or '/' for the web
 * page); the Functions registration and the local host both derive their routing from it, so the
 * two cannot drift apart.
 */
export interface Route {
  readonly name: string;
  readonly methods: readonly HttpMethod[];
  readonly path: string;
  readonly handler: RouteHandler;
}

/**
 * The Functions route template for a path. host.json sets an empty routePrefix so the web page can
 * live at the site root; an empty template is not accepted for the root, so the root uses the
 * documented catch-nothing template.
 */
export function functionsRouteTemplate(path: string): string {
  return path === '/' ? '{ignored:maxlength(0)?}' : path.replace(/^\//, '');
}

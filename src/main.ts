/**
 * Azure Functions entry point (package.json "main" -> dist/main.js). Registers the route table with
 * the Functions host; anonymous auth level, since a browser redirect carries no function key.
 */
import { app } from '@azure/functions';
import { functionsRouteTemplate } from './http/route';
import { createRoutes } from './routes';

app.setup({ enableHttpStream: false });

for (const route of createRoutes()) {
  app.http(route.name, {
    methods: [...route.methods],
    authLevel: 'anonymous',
    route: functionsRouteTemplate(route.path),
    handler: route.handler,
  });
}

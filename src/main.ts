/**
 * Azure Functions entry point (package.json "main" -> dist/main.js). Registers the route table and
 * the timers with the Functions host; anonymous auth level, since a browser redirect carries no
 * function key.
 *
 * Settings are checked at start: a bad deployment logs one message naming every missing or invalid
 * setting, and every request that needs the services then answers 503 config_invalid instead of
 * failing one by one (the health probe still answers).
 *
 * Cold start: only the route table and the light handlers load here; the services and the handlers
 * that use them (msal-node, @azure/identity, Key Vault, Tables) load on first use, from
 * dist/services.js (see src/routes.ts). Import nothing heavy here.
 */
import { app } from '@azure/functions';
import { ConfigError, loadConfig, type Config } from './config';
import { functionsRouteTemplate } from './http/route';
import { createRoutes, servicesOnFirstUse } from './routes';
import { strictTransportSecurity } from './http/transport-security';
import { createTimers } from './timers';

app.setup({ enableHttpStream: false });

let config: Config | undefined;
let configError: ConfigError | undefined;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  configError = error;
  console.error(error.message);
}

const services = servicesOnFirstUse(config, configError);

// With invalid settings the default (includeSubDomains) still goes on every response.
for (const route of createRoutes(services, { strictTransportSecurity: strictTransportSecurity(config?.hstsIncludeSubDomains ?? true) })) {
  app.http(route.name, {
    methods: [...route.methods],
    authLevel: 'anonymous',
    route: functionsRouteTemplate(route.path),
    handler: route.handler,
  });
}

for (const timer of createTimers(services)) {
  app.timer(timer.name, { schedule: timer.schedule, handler: async (_timer, context) => void (await timer.run(context)) });
}

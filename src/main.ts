/**
 * Azure Functions entry point (package.json "main" -> dist/main.js). Registers the route table and
 * the timers with the Functions host; anonymous auth level, since a browser redirect carries no
 * function key.
 *
 * Settings are checked at start: a bad deployment logs one message naming every missing or invalid
 * setting, and every request then answers 503 config_invalid instead of failing one by one.
 */
import { app } from '@azure/functions';
import { ConfigError, loadConfig, type Config } from './config';
import { createServices, lazyServices } from './create-services';
import { AppError, ErrorCode } from './errors';
import { functionsRouteTemplate } from './http/route';
import { createRoutes } from './routes';
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

const services = lazyServices(() => {
  if (!config) {
    throw new AppError(ErrorCode.CONFIG_INVALID, 'The app is not configured correctly. Operators: see the start-up log for the settings to fix.', {
      status: 503,
      cause: configError,
    });
  }
  return createServices(config);
});

for (const route of createRoutes(services)) {
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

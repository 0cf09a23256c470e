/**
 * `npm run serve`: the local host alone, against whatever the settings point at (real Azure, or
 * endpoints you run yourself). Settings come from the environment, then local.settings.json.
 * `node dist/serve.js --sweep` runs the timer jobs once and exits.
 */
import { InvocationContext } from '@azure/functions';
import { ConfigError, loadConfig, type Config } from './config';
import { startLocalHost } from './http/local-host';
import { withLocalSettings } from './local-settings';
import { createRoutes, servicesOnFirstUse } from './routes';
import { HSTS_HEADER, strictTransportSecurity } from './http/transport-security';
import { createTimers } from './timers';

async function main(): Promise<void> {
  const env = withLocalSettings(process.env);
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  // The services, and msal-node & co with them, load on first use (dist/services.js): the local
  // host answers /api/health without them, as dist/main.js does in Azure.
  const services = servicesOnFirstUse(config);

  if (process.argv.includes('--sweep')) {
    for (const timer of createTimers(services)) {
      await timer.run(new InvocationContext({ functionName: timer.name }));
    }
    return;
  }

  const port = Number(env['PORT'] ?? 7071);
  const hsts = strictTransportSecurity(config.hstsIncludeSubDomains);
  const host = await startLocalHost({
    routes: createRoutes(services, { strictTransportSecurity: hsts }),
    port,
    host: env['HOST'] ?? '127.0.0.1',
    headers: { [HSTS_HEADER]: hsts },
  });
  console.log(`Serving on ${host.url} (health: ${host.url}/api/health)`);
  const stop = (): void => {
    void host.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

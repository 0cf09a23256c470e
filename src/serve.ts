/**
 * `npm run serve`: the local host alone, against whatever the settings point at (real Azure, or
 * endpoints you run yourself). Settings come from the environment, then local.settings.json.
 */
import { ConfigError, loadConfig } from './config';
import { startLocalHost } from './http/local-host';
import { withLocalSettings } from './local-settings';
import { createRoutes } from './routes';

async function main(): Promise<void> {
  const env = withLocalSettings(process.env);
  Object.assign(process.env, env);
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const port = Number(env['PORT'] ?? 7071);
  const host = await startLocalHost({ routes: createRoutes(), port, host: env['HOST'] ?? '127.0.0.1' });
  console.log(`Serving on ${host.url} (try ${host.url}/api/health)`);
  const stop = (): void => {
    void host.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

void main();

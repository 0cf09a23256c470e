/**
 * One test app per file on an Entra app registration of its own, so the file's Entra counters
 * (token requests, redemptions) and faults touch no other test file. Registers beforeAll/afterAll.
 */
import { startTestApp, type TestApp, type TestAppOptions } from './app';
import { entraAdmin, type EntraTestClient } from './emulators';

export interface OwnClientApp {
  readonly client: () => EntraTestClient;
  readonly app: () => TestApp;
}

export function useOwnClientApp(options: Omit<TestAppOptions, 'env'> & { env?: Record<string, string> } = {}): OwnClientApp {
  let client: EntraTestClient | undefined;
  let app: TestApp | undefined;
  beforeAll(async () => {
    client = await entraAdmin.createClient();
    app = await startTestApp({ ...options, env: { ...client.env, ...options.env } });
  });
  afterAll(async () => {
    await client?.admin.reset();
    await app?.stop();
  });
  return { client: () => client!, app: () => app! };
}

/** A complete, valid set of settings for loadConfig tests, and the problems a set of settings gives. */
import { ConfigError, loadConfig } from '../../src/config';

export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const CLIENT = '11111111-2222-3333-4444-555555555555';

export const validSettings = {
  TENANT_ID: TENANT,
  CLIENT_ID: CLIENT,
  PUBLIC_BASE_URL: 'https://app.example.com',
  CLIENT_SECRET: 'not-a-real-secret',
  KEY_RING: 'k1:' + Buffer.alloc(32, 1).toString('base64'),
  TABLES_CONNECTION_STRING: 'UseDevelopmentStorage=true',
};

/** Every problem loadConfig reports for these settings; none when they load. */
export function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

import { existsSync, readFileSync } from 'node:fs';

/**
 * Loads `local.settings.json` (the Core Tools format: `{ "Values": { ... } }`) into an environment
 * map. The process environment wins over the file, as with `func start`.
 */
export function withLocalSettings(env: NodeJS.ProcessEnv, file = 'local.settings.json'): NodeJS.ProcessEnv {
  if (!existsSync(file)) return env;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file} is not valid JSON (${(error as Error).message}); fix it or delete it.`);
  }
  const values = (parsed as { Values?: unknown }).Values;
  if (values === undefined) return env;
  if (typeof values !== 'object' || values === null) throw new Error(`${file}: "Values" must be an object of settings.`);
  const merged: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === 'string') merged[name] = value;
  }
  return { ...merged, ...env };
}

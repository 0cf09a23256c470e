/** Types of ensure-key-ring.js (plain CommonJS so that it runs with no build step), for the tests. */
export interface SecretStore {
  getSecret(name: string): Promise<{ value?: string | undefined }>;
  setSecret(name: string, value: string, options?: { contentType?: string }): Promise<unknown>;
}

export interface Options {
  client: SecretStore;
  secretName: string;
  log?: (line: string) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  retryForMs?: number;
}

export function ensureKeyRing(options: Options): Promise<'exists' | 'created'>;
export function rotateKeyRing(options: Options): Promise<string>;
export function dropKey(options: Options, kid: string): Promise<void>;
export function newEntry(now?: number, taken?: readonly string[]): { kid: string; entry: string };
export function kidsOf(ring: string): string[];

// @ts-check
/**
 * The key ring in Key Vault, managed from the deployer's machine: the key material is generated here
 * (node:crypto, 32 random bytes per key), sent straight to the vault, and never printed, written to
 * disk, passed on a command line or through an ARM deployment.
 *
 *   node infra/hooks/ensure-key-ring.js           create the ring if the vault has none (azd postprovision)
 *   node infra/hooks/ensure-key-ring.js rotate    prepend a new key; the older keys keep opening what they sealed
 *   node infra/hooks/ensure-key-ring.js drop KID  remove one older key, once nothing sealed with it is alive
 *
 * Reads AZURE_KEY_VAULT_URL and KEY_RING_SECRET_NAME (default key-ring): azd exports both from
 * main.bicep's outputs to its hooks; set them by hand otherwise. Signs in as the azd user, or else
 * the Azure CLI user; that principal needs Key Vault Secrets Officer on the vault (main.bicep gives
 * it to the deploying principalId).
 *
 * Why not a Bicep parameter: a template cannot generate key material securely, and a parameter is
 * written again on every deployment, so an old value would silently undo a rotation.
 *
 * Plain CommonJS so that it runs on any supported Node.js with no build step.
 */
'use strict';

const { randomBytes } = require('node:crypto');

const KEY_BYTES = 32;
/** A role assignment made by the same `azd provision` can take minutes to apply. */
const RBAC_PROPAGATION_MS = 5 * 60 * 1000;
const RETRY_EVERY_MS = 15 * 1000;

/**
 * @typedef {{
 *   getSecret(name: string): Promise<{ value?: string | undefined }>;
 *   setSecret(name: string, value: string, options?: { contentType?: string }): Promise<unknown>;
 * }} SecretStore
 * @typedef {{
 *   client: SecretStore;
 *   secretName: string;
 *   log?: (line: string) => void;
 *   now?: () => number;
 *   sleep?: (ms: number) => Promise<void>;
 *   retryForMs?: number;
 * }} Options
 */

/** A new key ring entry, `kid:base64key`, with a time-based kid not in `taken`. */
function newEntry(now = Date.now(), taken = /** @type {readonly string[]} */ ([])) {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15); // 20250131-120000
  let kid = `k${stamp}`;
  for (let n = 2; taken.includes(kid); n++) kid = `k${stamp}-${n}`;
  return { kid, entry: `${kid}:${randomBytes(KEY_BYTES).toString('base64')}` };
}

/** Kids of a ring, newest first. Only kids: key material never leaves this module. */
function kidsOf(/** @type {string} */ ring) {
  return ring
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => entry.slice(0, entry.indexOf(':')));
}

/** @param {unknown} error */
function statusOf(error) {
  return typeof error === 'object' && error !== null && 'statusCode' in error ? /** @type {{ statusCode?: number }} */ (error).statusCode : undefined;
}

/**
 * Runs a vault call, retrying 403 while a fresh role assignment propagates.
 * @template T
 * @param {Required<Omit<Options, 'client' | 'secretName'>>} o
 * @param {() => Promise<T>} call
 * @returns {Promise<T>}
 */
async function withRbacRetry(o, call) {
  const deadline = o.now() + o.retryForMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (statusOf(error) !== 403 || o.now() >= deadline) throw error;
      o.log('The vault answered 403 (Forbidden): waiting for the role assignment to take effect...');
      await o.sleep(RETRY_EVERY_MS);
    }
  }
}

/** @param {Options} options */
function withDefaults(options) {
  return {
    log: options.log ?? ((line) => console.log(line)),
    now: options.now ?? Date.now,
    sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    retryForMs: options.retryForMs ?? RBAC_PROPAGATION_MS,
  };
}

/**
 * The current ring, or undefined when the vault has no such secret.
 * @param {Options} options
 */
async function readRing(options) {
  const o = withDefaults(options);
  try {
    const secret = await withRbacRetry(o, () => options.client.getSecret(options.secretName));
    return secret.value ?? '';
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

/** @param {Options} options @param {string} value */
async function writeRing(options, value) {
  const o = withDefaults(options);
  try {
    await withRbacRetry(o, () => options.client.setSecret(options.secretName, value, { contentType: 'text/plain' }));
  } catch (error) {
    if (statusOf(error) === 409) {
      // A deleted secret of that name is waiting out its soft-delete period. Recovering it brings
      // back the keys that sealed existing sessions; a new ring would sign everybody out.
      throw new Error(
        `The vault holds a deleted secret named "${options.secretName}": recover it (az keyvault secret recover --vault-name <vault> --name ${options.secretName}) and run this again.`,
      );
    }
    throw error;
  }
}

/**
 * Creates the key ring if the vault has none; never replaces an existing one.
 * @param {Options} options
 * @returns {Promise<'exists' | 'created'>}
 */
async function ensureKeyRing(options) {
  const { log } = withDefaults(options);
  const current = await readRing(options);
  if (current !== undefined) {
    log(`Key ring "${options.secretName}" is in the vault (kids: ${kidsOf(current).join(', ')}): left unchanged.`);
    return 'exists';
  }
  const { kid, entry } = newEntry(withDefaults(options).now());
  // Two runs racing here would each write a ring; the later one wins, before any user signed in.
  await writeRing(options, entry);
  log(`Key ring "${options.secretName}" created with one key, kid ${kid}.`);
  return 'created';
}

/**
 * Prepends a new key. Instances pick the new ring up when they meet its kid or when their cached
 * copy expires; values sealed with older keys still open.
 * @param {Options} options
 * @returns {Promise<string>} the new kid
 */
async function rotateKeyRing(options) {
  const { log, now } = withDefaults(options);
  const current = await readRing(options);
  if (current === undefined || current.trim() === '') {
    throw new Error(`The vault has no key ring "${options.secretName}" to rotate: run this script without arguments to create it.`);
  }
  const { kid, entry } = newEntry(now(), kidsOf(current));
  await writeRing(options, `${entry},${current.trim()}`);
  log(`Key ring "${options.secretName}" rotated: new key ${kid} first; kids now ${[kid, ...kidsOf(current)].join(', ')}.`);
  return kid;
}

/**
 * Removes one older key. Whatever it sealed (sessions, cached tokens) can no longer be opened, so
 * drop a key only once the absolute session timeout has passed since the rotation that replaced it.
 * @param {Options} options
 * @param {string} kid
 */
async function dropKey(options, kid) {
  const { log } = withDefaults(options);
  const current = await readRing(options);
  if (current === undefined) throw new Error(`The vault has no key ring "${options.secretName}".`);
  const entries = current.split(',').map((e) => e.trim()).filter(Boolean);
  const kids = kidsOf(current);
  const index = kids.indexOf(kid);
  if (index === -1) throw new Error(`The key ring has no kid "${kid}" (kids: ${kids.join(', ')}).`);
  if (index === 0) throw new Error(`"${kid}" is the newest key, the one that seals: rotate first, drop it later.`);
  await writeRing(options, entries.filter((_, i) => i !== index).join(','));
  log(`Key ${kid} dropped from "${options.secretName}"; kids now ${kids.filter((k) => k !== kid).join(', ')}.`);
}

async function main(/** @type {string[]} */ args) {
  const vaultUrl = process.env.AZURE_KEY_VAULT_URL;
  if (!vaultUrl) {
    throw new Error('AZURE_KEY_VAULT_URL is not set: run this from azd (postprovision), or set it to the vault URL (main.bicep output).');
  }
  const secretName = process.env.KEY_RING_SECRET_NAME || 'key-ring';
  // Loaded here, not at the top, so tests can load this module without them.
  let identity, secrets;
  try {
    identity = require('@azure/identity');
    secrets = require('@azure/keyvault-secrets');
  } catch {
    throw new Error('@azure/identity or @azure/keyvault-secrets is not installed: run npm ci first.');
  }
  const { AzureCliCredential, AzureDeveloperCliCredential, ChainedTokenCredential } = identity;
  const { SecretClient } = secrets;
  // The azd user first (the principal azd gave the vault role to), then the Azure CLI user.
  const credential = new ChainedTokenCredential(new AzureDeveloperCliCredential(), new AzureCliCredential());
  const options = { client: new SecretClient(vaultUrl, credential), secretName };
  const [command, kid] = args;
  if (command === undefined || command === 'ensure') await ensureKeyRing(options);
  else if (command === 'rotate') await rotateKeyRing(options);
  else if (command === 'drop' && kid) await dropKey(options, kid);
  else throw new Error('Usage: node infra/hooks/ensure-key-ring.js [ensure | rotate | drop <kid>]');
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((/** @type {unknown} */ error) => {
    // Messages from this module and the Azure SDK name the vault and the status, never a value.
    console.error(`key ring: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}

module.exports = { ensureKeyRing, rotateKeyRing, dropKey, newEntry, kidsOf };

/**
 * Builds the Services of one instance from its Config. Everything here is created once per
 * process and reused by every request; nothing does I/O until a request needs it.
 */
import { sealerFor } from './crypto/seal';
import type { Config } from './config';
import { systemClock, type Clock } from './clock';
import { authorityMetadataUrl, createMsalAppFactory } from './auth/msal-app';
import { MsalTokenService } from './auth/msal-token-service';
import { AccessTokenMemory } from './auth/access-token-memory';
import { RememberingSessionStore } from './auth/session-memory';
import { TableSessionStore, type SessionStore } from './auth/session-store';
import { Sessions } from './auth/sessions';
import { SessionCookies } from './auth/session-cookie';
import { TableSpentTransactions } from './auth/spent-transactions';
import { L1TokenCacheStore } from './cache/l1-token-cache-store';
import { MemoryL1 } from './cache/memory-l1';
import { tokenCacheRowsSink } from './cache/shared-read';
import { TableTokenCacheStore } from './cache/table-token-cache-store';
import type { TokenCacheStore } from './cache/token-cache-store';
import { GraphMailClient } from './graph/mail-client';
import { createSecrets } from './secrets/create-secrets';
import { createSecretClient, createVaultCredential } from './secrets/key-vault';
import type { ClientCredentialProvider, KeyRingProvider } from './secrets/types';
import type { Services, ServicesProvider } from './services';
import { countTraffic, createTableClient, ensureTable, TABLES, traceStorage, type StorageTraffic } from './storage/tables';
import { authorityCheck, Readiness, type ReadinessCheck } from './telemetry/readiness';
import { recordSweep } from './telemetry/sweep';

/** Remembered sessions per instance: ~1 KiB each, so about 10 MiB at most. */
const SESSION_MEMORY_ENTRIES = 10_000;
/** Remembered access tokens per instance: a few KiB each, so about 10-20 MiB at most. */
const ACCESS_TOKEN_MEMORY_ENTRIES = 5_000;

export interface Secrets {
  readonly credentials: ClientCredentialProvider;
  readonly keyRing: KeyRingProvider;
}

export interface ServiceOverrides {
  readonly clock?: Clock;
  readonly secrets?: Secrets;
  readonly log?: { warn(message: string): void; error(message: string): void };
}

export function createServices(config: Config, overrides: ServiceOverrides = {}): Services {
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.log ?? { warn: (m: string) => console.warn(m), error: (m: string) => console.error(m) };
  // Key Vault (and a managed identity) when KEY_VAULT_URL is set, settings otherwise; no I/O until first use.
  // The vault's client is made here (when the secrets are not given) so readiness can ask the vault too.
  const vaultReader =
    overrides.secrets === undefined && config.keyVaultUrl !== undefined
      ? createSecretClient(config.keyVaultUrl, createVaultCredential(config.managedIdentityClientId))
      : undefined;
  const secrets = overrides.secrets ?? createSecrets(config, { log: logger, ...(vaultReader ? { reader: vaultReader } : {}) });

  // One table, one partition per account: the token cache and the account's sessions (see session-store.ts).
  const storageTraffic: StorageTraffic = { reads: 0, writes: 0 };
  const accountsClient = createTableClient(config, TABLES.accounts);
  countTraffic(accountsClient, storageTraffic);
  traceStorage(accountsClient);
  const createTable = config.tables.connectionString ? ensureTable(accountsClient) : async () => {};
  const tableCache = new TableTokenCacheStore({ client: accountsClient, keyRing: secrets.keyRing, clock, ensureTable: createTable });
  const l1 =
    config.tokenCacheMemory.maxBytes > 0 && config.tokenCacheMemory.ttlSeconds > 0
      ? new MemoryL1({ maxBytes: config.tokenCacheMemory.maxBytes, ttlMs: config.tokenCacheMemory.ttlSeconds * 1000, clock })
      : undefined;
  const tokenCacheStore: TokenCacheStore = l1 ? new L1TokenCacheStore(tableCache, l1) : tableCache;
  const tableSessions = new TableSessionStore(accountsClient, {
    keyRing: secrets.keyRing,
    ensureTable: createTable,
    clock,
    ...(l1 ? { tokenCacheRows: tokenCacheRowsSink(tableCache, l1) } : {}),
  });
  const sessionStore: SessionStore =
    config.session.memoryTtlSeconds > 0
      ? new RememberingSessionStore(tableSessions, { ttlMs: config.session.memoryTtlSeconds * 1000, maxEntries: SESSION_MEMORY_ENTRIES, clock })
      : tableSessions;
  const sessions = new Sessions(sessionStore, config.session, clock, new SessionCookies(secrets.keyRing));

  const msal = createMsalAppFactory(config, secrets.credentials);
  const tokens = new MsalTokenService({
    msal,
    store: tokenCacheStore,
    credentials: secrets.credentials,
    environment: new URL(config.cloudInstance).host,
    clock,
    logger,
    ...(l1
      ? { memory: new AccessTokenMemory({ ttlMs: config.tokenCacheMemory.ttlSeconds * 1000, maxEntries: ACCESS_TOKEN_MEMORY_ENTRIES, clock }) }
      : {}),
  });

  return {
    config,
    clock,
    sessions,
    sessionStore,
    tokenCacheStore,
    spentTransactions: new TableSpentTransactions(accountsClient, { ensureTable: createTable }),
    storageTraffic,
    msal,
    credentials: secrets.credentials,
    tokens,
    graph: new GraphMailClient({ endpoint: config.graphEndpoint }),
    recordSweep,
    readiness: new Readiness({
      clock,
      checks: {
        storage: async (signal) => {
          await createTable();
          // One point query for a partition nobody has: storage answers with an empty page.
          const pages = accountsClient
            .listEntities({ queryOptions: { filter: "PartitionKey eq 'readiness'", select: ['PartitionKey'] }, abortSignal: signal })
            .byPage({ maxPageSize: 1 });
          await pages.next();
        },
        ...(vaultReader ? { key_vault: vaultCheck(vaultReader, config.keyRingSecretName) } : {}),
        authority: authorityCheck(authorityMetadataUrl(config.authority)),
      },
    }),
    transactionSealer: (sealed) => sealerFor(secrets.keyRing, 'cookie:txn', sealed),
    cursorSealer: (sealed) => sealerFor(secrets.keyRing, 'cookie:cursor', sealed),
  };
}

/** The vault answers when it hands out the key ring (the secret every request needs). */
function vaultCheck(reader: { getSecret(name: string, options?: { abortSignal?: AbortSignal }): Promise<unknown> }, name: string): ReadinessCheck {
  return async (signal) => {
    await reader.getSecret(name, { abortSignal: signal });
  };
}

/** Builds the services on first use; a failure is not cached, so the next request tries again. */
export function lazyServices(build: () => Services | Promise<Services>): ServicesProvider {
  let services: Promise<Services> | undefined;
  return () => {
    services ??= Promise.resolve()
      .then(build)
      .catch((error: unknown) => {
        services = undefined;
        throw error;
      });
    return services;
  };
}

/**
 * The composition root: builds every long-lived object once per instance (per process), lazily on
 * the first request, so a cold start pays only for what that request needs.
 */
import type { Config } from './config';
import type { Clock } from './clock';
import type { Sealer } from './auth/login-transaction';
import type { MsalAppFactory } from './auth/msal-app';
import type { SessionStore } from './auth/session-store';
import type { Sessions } from './auth/sessions';
import type { TokenCacheStore } from './cache/token-cache-store';
import type { TokenService } from './auth/token-service';
import type { GraphMailClient } from './graph/mail-client';
import type { ClientCredentialProvider } from './secrets/types';
import type { StorageTraffic } from './storage/tables';

export interface Services {
  readonly config: Config;
  readonly clock: Clock;
  readonly sessions: Sessions;
  readonly sessionStore: SessionStore;
  readonly tokenCacheStore: TokenCacheStore;
  /** Table Storage requests sent by this instance (sessions and token cache). */
  readonly storageTraffic: StorageTraffic;
  readonly msal: MsalAppFactory;
  readonly credentials: ClientCredentialProvider;
  /** Seals the sign-in transaction cookie with the current key ring. */
  transactionSealer(): Promise<Sealer>;
  /** Seals mail paging cursors, bound to one user, so a cursor cannot point Graph calls elsewhere. */
  cursorSealer(): Promise<Sealer>;
  readonly tokens: TokenService;
  readonly graph: GraphMailClient;
}

export type ServicesProvider = () => Promise<Services>;

/**
 * Builds msal-node ConfidentialClientApplications. One is built per request and bound to one user's
 * token-cache partition (the distributed-cache pattern: an application instance never holds two
 * users' tokens). Building one is cheap because everything that would otherwise cost a network
 * round trip per instance, the authority's discovery document, is fetched once per process and
 * handed to each application as `authorityMetadata`.
 */
import { ConfidentialClientApplication, LogLevel, type Configuration, type ICachePlugin, type INetworkModule } from '@azure/msal-node';
import type { Config } from '../config';
import type { ClientCredentialProvider } from '../secrets/types';
import { instruments } from '../telemetry/instruments';
import { clientCall } from '../telemetry/spans';
import { identityProviderUnavailable } from './msal-errors';
import { timedNetworkModule } from './msal-network';

/** Continuous Access Evaluation: Graph may answer 401 with a claims challenge instead of waiting for expiry. */
export const CLIENT_CAPABILITIES = ['CP1'];

export interface CreateOptions {
  /** Binds the application to one user's token-cache partition. */
  readonly cachePlugin?: ICachePlugin;
  /**
   * Cache only: any network call fails with NetworkNeededError instead of going out. Lets a
   * caller ask MSAL "can you answer from the cache?" and take the refresh lease only when not.
   */
  readonly offline?: boolean;
}

/** Thrown by an offline application where MSAL would have called Entra (a refresh is due). */
export class NetworkNeededError extends Error {
  readonly code = 'network_needed';
  constructor() {
    super('MSAL needs the network to answer from this cache');
    this.name = 'NetworkNeededError';
  }
}

/**
 * msal-common wraps whatever the network module throws into its own network_error, so the miss is
 * recorded per application rather than recognised by error type.
 */
const offlineMisses = new WeakSet<ConfidentialClientApplication>();

/** True when an offline application had to give up because MSAL wanted the network. */
export function neededNetwork(app: ConfidentialClientApplication): boolean {
  return offlineMisses.has(app);
}

function offlineNetwork(onMiss: () => void): INetworkModule {
  const miss = (): Promise<never> => {
    onMiss();
    return Promise.reject(new NetworkNeededError());
  };
  return { sendGetRequestAsync: miss, sendPostRequestAsync: miss };
}

export interface MsalAppFactory {
  create(options?: CreateOptions): Promise<ConfidentialClientApplication>;
  /** The authority's end-session endpoint, for sign-out. */
  endSessionEndpoint(): Promise<string>;
  /**
   * The authority's issuer, from its discovery document; for a multi-tenant authority the template
   * with `{tenantid}` (see issuerMatches in issuer.ts). Undefined when the document has none.
   */
  issuer(): Promise<string | undefined>;
}

export interface AuthorityMetadata {
  readonly raw: string;
  readonly endSessionEndpoint: string;
  readonly issuer: string | undefined;
}

export function createMsalAppFactory(
  config: Pick<Config, 'clientId' | 'authority' | 'knownAuthorities'>,
  credentials: ClientCredentialProvider,
  options: { fetchTimeoutMs?: number } = {},
): MsalAppFactory {
  let metadata: Promise<AuthorityMetadata> | undefined;
  const authorityMetadata = (): Promise<AuthorityMetadata> => {
    metadata ??= fetchAuthorityMetadata(config.authority, options.fetchTimeoutMs ?? 10_000).catch((error: unknown) => {
      metadata = undefined; // try again on the next request: recover by ourselves
      throw identityProviderUnavailable(error);
    });
    return metadata;
  };

  return {
    async create(createOptions = {}) {
      const { cachePlugin, offline } = createOptions;
      const [meta, credential] = await Promise.all([authorityMetadata(), credentials.current()]);
      const configuration: Configuration = {
        auth: {
          clientId: config.clientId,
          authority: config.authority,
          knownAuthorities: [...config.knownAuthorities],
          authorityMetadata: meta.raw,
          clientCapabilities: CLIENT_CAPABILITIES,
          ...credential,
        },
        system: {
          loggerOptions: {
            // PII (tokens never, but user names and ids) stays out of the logs.
            piiLoggingEnabled: false,
            logLevel: LogLevel.Warning,
            loggerCallback: () => {},
          },
          networkClient: offline ? offlineNetwork(() => offlineMisses.add(app)) : timedNetworkModule(),
        },
        ...(cachePlugin ? { cache: { cachePlugin } } : {}),
      };
      // The network module's closure reads `app` only when MSAL calls it, after construction.
      const app = new ConfidentialClientApplication(configuration);
      return app;
    },
    async endSessionEndpoint() {
      return (await authorityMetadata()).endSessionEndpoint;
    },
    async issuer() {
      return (await authorityMetadata()).issuer;
    },
  };
}

/** The authority's OpenID Connect discovery document. */
export function authorityMetadataUrl(authority: string): string {
  return `${authority}/v2.0/.well-known/openid-configuration`;
}

/**
 * Discovery did not give a usable document: `status` is the authority's HTTP status when it
 * answered with an error, undefined when the document itself is unusable. A network failure or a
 * timeout is fetch's own error. (`npm run doctor` tells these apart.)
 */
export class AuthorityMetadataError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AuthorityMetadataError';
  }
}

/** Fetches and checks the discovery document, as every MSAL application of this process gets it. */
export async function fetchAuthorityMetadata(authority: string, timeoutMs: number): Promise<AuthorityMetadata> {
  const url = authorityMetadataUrl(authority);
  const response = await clientCall(
    'entra metadata',
    { 'http.request.method': 'GET', 'server.address': new URL(url).host, 'bff.entra.operation': 'metadata' },
    instruments().entraDuration,
    { 'bff.entra.operation': 'metadata' },
    () => fetch(url, { signal: AbortSignal.timeout(timeoutMs) }),
    (answer) => answer.status,
  );
  if (!response.ok) throw new AuthorityMetadataError(`discovery answered ${response.status}`, response.status);
  const raw = await response.text();
  let document: { end_session_endpoint?: unknown; authorization_endpoint?: unknown; token_endpoint?: unknown; issuer?: unknown };
  try {
    document = JSON.parse(raw) as typeof document;
  } catch (error) {
    throw new AuthorityMetadataError('discovery document is not JSON', undefined, { cause: error });
  }
  if (typeof document !== 'object' || document === null || typeof document.authorization_endpoint !== 'string' || typeof document.token_endpoint !== 'string') {
    throw new AuthorityMetadataError('discovery document lacks the authorization or token endpoint', undefined);
  }
  const endSessionEndpoint = typeof document.end_session_endpoint === 'string' ? document.end_session_endpoint : `${authority}/oauth2/v2.0/logout`;
  return { raw, endSessionEndpoint, issuer: typeof document.issuer === 'string' ? document.issuer : undefined };
}

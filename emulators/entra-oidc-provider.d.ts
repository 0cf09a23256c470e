/**
 * The slice of oidc-provider 9's API that emulators/entra.ts uses (the package ships no types).
 * Loose on purpose: configuration objects are checked by oidc-provider itself at startup.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  /** Koa's context as oidc-provider extends it (only what the emulator touches). */
  export interface ProviderContext {
    readonly req: IncomingMessage & { entra?: unknown; body?: unknown };
    readonly res: ServerResponse;
    readonly method: string;
    readonly path: string;
    status: number;
    body: unknown;
    type: string;
    set(field: string, value: string): void;
    get(field: string): string;
    /** Koa's response: `get` reads a response header (ctx.get reads the request's). */
    readonly response: { get(field: string): string };
    readonly host: string;
    readonly oidc: OidcContext;
  }

  export interface OidcContext {
    readonly route?: string;
    readonly client?: { readonly clientId: string };
    readonly params?: Record<string, unknown>;
    readonly session?: SessionLike;
    readonly account?: { readonly accountId: string };
    readonly result?: { consent?: { grantId?: string } };
    readonly entities: {
      readonly Account?: { readonly accountId: string };
      readonly AccessToken?: AccessTokenLike;
      readonly ClientCredentials?: AccessTokenLike;
      readonly AuthorizationCode?: { readonly scope?: string; readonly accountId?: string };
      readonly RefreshToken?: { readonly scope?: string; readonly accountId?: string };
      readonly Grant?: GrantLike;
    };
    readonly requestParamScopes: Set<string>;
    readonly resourceServers?: Record<string, { readonly scope?: string; identifier(): string }>;
    readonly provider: Provider;
    urlFor(name: string, options?: Record<string, unknown>): string;
  }

  export interface SessionLike {
    readonly accountId?: string;
    grantIdFor(clientId: string, value?: string): string | undefined;
  }

  export interface AccessTokenLike {
    readonly kind: string;
    readonly accountId?: string;
    readonly clientId?: string;
    readonly scope?: string;
    readonly expiration?: number;
    readonly resourceServer?: { readonly audience?: string; identifier(): string };
  }

  export interface RefreshTokenLike {
    readonly jti: string;
    readonly grantId: string;
    readonly accountId: string;
    readonly clientId: string;
    readonly scope?: string;
    readonly consumed?: number;
    readonly isExpired: boolean;
    readonly iat: number;
  }

  export interface GrantLike {
    readonly jti: string;
    readonly accountId: string;
    readonly clientId: string;
    addOIDCScope(scope: string): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }

  export interface InteractionDetails {
    readonly uid: string;
    readonly prompt: { readonly name: string; readonly reasons: readonly string[]; readonly details: Record<string, unknown> };
    readonly params: Record<string, unknown>;
    readonly session?: { readonly accountId?: string };
    readonly grantId?: string;
  }

  export type ProviderMiddleware = (ctx: ProviderContext, next: () => Promise<void>) => Promise<void>;

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    readonly issuer: string;
    proxy: boolean;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    use(middleware: ProviderMiddleware): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: Record<string, unknown>,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
    interactionResult(
      req: IncomingMessage,
      res: ServerResponse,
      result: Record<string, unknown>,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<string>;
    readonly RefreshToken: { find(value: string, options?: { ignoreExpiration?: boolean }): Promise<RefreshTokenLike | undefined> };
    readonly Grant: {
      new (properties: { accountId: string; clientId: string }): GrantLike;
      find(id: string): Promise<GrantLike | undefined>;
    };
    /** The browser sign-in session; `sidFor(clientId)` is the `sid` of that client's sign-in. */
    readonly Session: { findByUid(uid: string): Promise<{ sidFor(clientId: string): string | undefined } | undefined> };
  }

  export const errors: Record<string, new (description?: string) => Error>;
}

/**
 * In-memory storage for the emulated Entra (oidc-provider's adapter interface), with what the
 * emulator needs on top of oidc-provider's own memory adapter: no size cap (a benchmark must not
 * see grants evicted), iteration (revoke everything of one user), and a dynamic `Client` model
 * (redirect URIs and the client record can change at runtime through the admin routes).
 */
import { markRedeemed } from './entra-rotation';

export interface StoredPayload {
  readonly [key: string]: unknown;
  grantId?: string;
  accountId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
  /** A redeemed refresh token that stays redeemable (reuse detection off; entra-rotation.ts). */
  rotated?: number;
  clientId?: string;
  jti?: string;
}

interface Entry {
  payload: StoredPayload;
  /** ms since epoch; undefined = no expiry */
  expiresAt: number | undefined;
}

const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

export class EntraStore {
  private readonly entries = new Map<string, Entry>();
  private readonly grantMembers = new Map<string, Set<string>>();
  private readonly sessionUids = new Map<string, string>();
  private readonly userCodes = new Map<string, string>();

  constructor(
    private readonly clientMetadata: (clientId: string) => Record<string, unknown> | undefined,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Whether a client's redeemed refresh tokens are marked `consumed` (oidc-provider's reuse detection). */
  detectsRefreshTokenReuse: (clientId: string | undefined) => boolean = () => true;

  /** oidc-provider's `adapter` option: `(model) => adapter`. */
  readonly adapterFactory = (model: string): EntraAdapter => new EntraAdapter(model, this);

  private key(model: string, id: string): string {
    return `${model}:${id}`;
  }

  get(model: string, id: string): StoredPayload | undefined {
    if (model === 'Client') return this.clientMetadata(id) as StoredPayload | undefined;
    const key = this.key(model, id);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.clock()) {
      this.deleteKey(key);
      return undefined;
    }
    return entry.payload;
  }

  set(model: string, id: string, payload: StoredPayload, expiresInSeconds: number | undefined): void {
    const key = this.key(model, id);
    if (this.entries.has(key)) this.deleteKey(key);
    const expiresAt = typeof expiresInSeconds === 'number' ? this.clock() + expiresInSeconds * 1000 : undefined;
    this.entries.set(key, { payload, expiresAt });
    if (GRANTABLE.has(model) && typeof payload.grantId === 'string') {
      let members = this.grantMembers.get(payload.grantId);
      if (!members) this.grantMembers.set(payload.grantId, (members = new Set()));
      members.add(key);
    }
    if (model === 'Session' && typeof payload.uid === 'string') this.sessionUids.set(payload.uid, id);
    if (typeof payload.userCode === 'string') this.userCodes.set(payload.userCode, id);
    this.sweepSometimes();
  }

  delete(model: string, id: string): void {
    this.deleteKey(this.key(model, id));
  }

  private deleteKey(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    const { grantId, uid, userCode } = entry.payload;
    if (typeof grantId === 'string') {
      const members = this.grantMembers.get(grantId);
      members?.delete(key);
      if (members && members.size === 0) this.grantMembers.delete(grantId);
    }
    if (key.startsWith('Session:') && typeof uid === 'string') this.sessionUids.delete(uid);
    if (typeof userCode === 'string') this.userCodes.delete(userCode);
  }

  findSessionIdByUid(uid: string): string | undefined {
    return this.sessionUids.get(uid);
  }

  findIdByUserCode(userCode: string): string | undefined {
    return this.userCodes.get(userCode);
  }

  /** Deletes every token issued under a grant (and keeps the Grant record itself). */
  revokeByGrantId(grantId: string): void {
    for (const key of [...(this.grantMembers.get(grantId) ?? [])]) this.deleteKey(key);
    this.grantMembers.delete(grantId);
  }

  /** Deletes a grant and everything issued under it. */
  revokeGrant(grantId: string): void {
    this.revokeByGrantId(grantId);
    this.delete('Grant', grantId);
  }

  /** Live entries of one model, as [id, payload]. */
  *all(model: string): Generator<[string, StoredPayload]> {
    const prefix = `${model}:`;
    const now = this.clock();
    for (const [key, entry] of this.entries) {
      if (!key.startsWith(prefix)) continue;
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) continue;
      yield [key.slice(prefix.length), entry.payload];
    }
  }

  /** Ids of the refresh tokens (consumed or not) issued under a grant. */
  refreshTokensOfGrant(grantId: string): string[] {
    const prefix = 'RefreshToken:';
    return [...(this.grantMembers.get(grantId) ?? [])].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }

  clear(): void {
    this.entries.clear();
    this.grantMembers.clear();
    this.sessionUids.clear();
    this.userCodes.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private writes = 0;
  private sweepSometimes(): void {
    if (++this.writes % 500 !== 0) return;
    const now = this.clock();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.deleteKey(key);
    }
  }
}

/** One model's adapter, in the shape oidc-provider calls. */
export class EntraAdapter {
  constructor(
    private readonly model: string,
    private readonly store: EntraStore,
  ) {}

  async upsert(id: string, payload: StoredPayload, expiresIn?: number): Promise<void> {
    if (this.model === 'Client') return; // clients come from the emulator's configuration
    this.store.set(this.model, id, payload, expiresIn);
  }

  async find(id: string): Promise<StoredPayload | undefined> {
    return this.store.get(this.model, id);
  }

  async findByUid(uid: string): Promise<StoredPayload | undefined> {
    const id = this.store.findSessionIdByUid(uid);
    return id === undefined ? undefined : this.store.get(this.model, id);
  }

  async findByUserCode(userCode: string): Promise<StoredPayload | undefined> {
    const id = this.store.findIdByUserCode(userCode);
    return id === undefined ? undefined : this.store.get(this.model, id);
  }

  async consume(id: string): Promise<void> {
    const payload = this.store.get(this.model, id);
    if (!payload) return;
    const now = Math.floor(Date.now() / 1000);
    if (this.model === 'RefreshToken') markRedeemed(payload, this.store.detectsRefreshTokenReuse(payload.clientId), now);
    else payload.consumed = now;
  }

  async destroy(id: string): Promise<void> {
    this.store.delete(this.model, id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.store.revokeByGrantId(grantId);
  }
}

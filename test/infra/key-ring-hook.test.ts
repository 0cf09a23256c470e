/**
 * infra/hooks/ensure-key-ring.js: creates the key ring once, rotates and prunes it, and never
 * reveals key material. Runs against an in-memory stand-in for the vault's secrets API.
 */
import { parseKeyRing } from '../../src/crypto/keyring';
import { dropKey, ensureKeyRing, kidsOf, newEntry, rotateKeyRing, type Options, type SecretStore } from '../../infra/hooks/ensure-key-ring';

class RestError extends Error {
  constructor(readonly statusCode: number) {
    super(`status ${statusCode}`);
  }
}

/** Secrets by name, versions kept; `failures` are thrown first, one per call. */
class FakeVault implements SecretStore {
  readonly versions = new Map<string, string[]>();
  readonly failures: number[] = [];
  async getSecret(name: string): Promise<{ value?: string }> {
    this.failMaybe();
    const versions = this.versions.get(name);
    if (versions === undefined) throw new RestError(404);
    return { value: versions[versions.length - 1]! };
  }
  async setSecret(name: string, value: string): Promise<unknown> {
    this.failMaybe();
    this.versions.set(name, [...(this.versions.get(name) ?? []), value]);
    return {};
  }
  current(name = 'key-ring'): string | undefined {
    return this.versions.get(name)?.at(-1);
  }
  private failMaybe(): void {
    const status = this.failures.shift();
    if (status !== undefined) throw new RestError(status);
  }
}

function setup(): { vault: FakeVault; lines: string[]; options: Options; clock: { now: number } } {
  const vault = new FakeVault();
  const lines: string[] = [];
  const clock = { now: Date.UTC(2025, 0, 31, 12, 0, 0) };
  const options: Options = {
    client: vault,
    secretName: 'key-ring',
    log: (line) => lines.push(line),
    now: () => clock.now,
    sleep: async (ms) => {
      clock.now += ms;
    },
    retryForMs: 60_000,
  };
  return { vault, lines, options, clock };
}

/** The base64 key parts of a ring: none may ever appear in a log line. */
function keysOf(ring: string): string[] {
  return ring.split(',').map((entry) => entry.slice(entry.indexOf(':') + 1));
}

describe('ensure-key-ring hook', () => {
  it('creates a ring the app accepts: one 32-byte key, kid from the clock', async () => {
    const { vault, lines, options } = setup();
    await expect(ensureKeyRing(options)).resolves.toBe('created');
    const ring = vault.current()!;
    const parsed = parseKeyRing(ring);
    expect(parsed.kids).toEqual(['k20250131-120000']);
    expect(Buffer.from(keysOf(ring)[0]!, 'base64')).toHaveLength(32);
    expect(lines.join('\n')).toContain('k20250131-120000');
    expect(lines.join('\n')).not.toContain(keysOf(ring)[0]);
  });

  it('leaves an existing ring alone (deploying again must not sign anyone out)', async () => {
    const { vault, options } = setup();
    await vault.setSecret('key-ring', 'old:' + Buffer.alloc(32, 7).toString('base64'));
    await expect(ensureKeyRing(options)).resolves.toBe('exists');
    expect(vault.versions.get('key-ring')).toHaveLength(1);
  });

  it('waits out 403 while a new role assignment propagates, then gives up with the error', async () => {
    const { vault, lines, options } = setup();
    vault.failures.push(403, 403);
    await expect(ensureKeyRing(options)).resolves.toBe('created');
    expect(lines.filter((l) => l.includes('403'))).toHaveLength(2);

    const stuck = setup();
    stuck.vault.failures.push(...Array<number>(100).fill(403));
    await expect(ensureKeyRing(stuck.options)).rejects.toMatchObject({ statusCode: 403 });
    expect(stuck.vault.current()).toBeUndefined();
  });

  it('asks for a recovery when a deleted ring of that name is waiting out soft delete', async () => {
    const { vault, options } = setup();
    vault.failures.push(404, 409);
    await expect(ensureKeyRing(options)).rejects.toThrow(/az keyvault secret recover .*--name key-ring/);
  });

  it('fails on anything else without retrying', async () => {
    const { vault, options } = setup();
    vault.failures.push(500);
    await expect(ensureKeyRing(options)).rejects.toMatchObject({ statusCode: 500 });
  });

  it('rotates by prepending a new key and keeping the old ones', async () => {
    const { vault, lines, options, clock } = setup();
    await ensureKeyRing(options);
    const first = vault.current()!;
    clock.now += 24 * 3600 * 1000;
    await expect(rotateKeyRing(options)).resolves.toBe('k20250201-120000');
    const ring = vault.current()!;
    expect(ring.endsWith(`,${first}`)).toBe(true);
    expect(parseKeyRing(ring).kids).toEqual(['k20250201-120000', 'k20250131-120000']);
    for (const key of keysOf(ring)) expect(lines.join('\n')).not.toContain(key);
  });

  it('never reuses a kid, even for two rotations in the same second', async () => {
    const { vault, options } = setup();
    await ensureKeyRing(options);
    await rotateKeyRing(options);
    await rotateKeyRing(options);
    expect(parseKeyRing(vault.current()!).kids).toEqual(['k20250131-120000-3', 'k20250131-120000-2', 'k20250131-120000']);
  });

  it('refuses to rotate a ring that does not exist', async () => {
    const { options } = setup();
    await expect(rotateKeyRing(options)).rejects.toThrow(/no key ring "key-ring" to rotate/);
  });

  it('drops an older key, never the newest', async () => {
    const { vault, options, clock } = setup();
    await ensureKeyRing(options);
    clock.now += 1000;
    await rotateKeyRing(options);
    await expect(dropKey(options, 'k20250131-120001')).rejects.toThrow(/newest key/);
    await expect(dropKey(options, 'nope')).rejects.toThrow(/no kid "nope"/);
    await dropKey(options, 'k20250131-120000');
    expect(kidsOf(vault.current()!)).toEqual(['k20250131-120001']);
  });

  it('generates entries with fresh randomness', () => {
    const a = newEntry(0);
    const b = newEntry(0);
    expect(a.kid).toBe(b.kid);
    expect(a.entry).not.toBe(b.entry);
  });
});

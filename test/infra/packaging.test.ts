/**
 * What gets deployed: `.funcignore` leaves exactly host.json, package.json and dist/ in the package
 * (for `func azure functionapp publish` and `azd deploy`), and azure.yaml builds that bundle and
 * deploys it without a remote build.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './bicep';

/** The package's whole content at the top level. */
const DEPLOYED = ['host.json', 'package.json', 'dist'];

/**
 * Top-level entries that may not exist in this checkout but do on a developer's machine
 * (generated, or gitignored).
 */
const GENERATED = ['node_modules', 'dist', 'dist-dev', 'coverage', '.local', 'test-artifacts', 'local.settings.json', '.env', '.azure', '.vscode', 'README.md', 'npm-debug.log'];

/**
 * .funcignore patterns, restricted to the forms whose meaning is the same for Core Tools' and
 * azd's gitignore parsers: a plain name, or a name with `*` wildcards; no negation, no slashes.
 */
function funcignore(): RegExp[] {
  const lines = readFileSync(join(REPO_ROOT, '.funcignore'), 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  for (const line of lines) expect({ line, simple: /^[A-Za-z0-9._*-]+$/.test(line) }).toEqual({ line, simple: true });
  return lines.map((line) => new RegExp(`^${line.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`));
}

function ignored(patterns: RegExp[], name: string): boolean {
  return patterns.some((pattern) => pattern.test(name));
}

describe('.funcignore', () => {
  it('keeps host.json, package.json and dist/', () => {
    const patterns = funcignore();
    expect(DEPLOYED.filter((name) => ignored(patterns, name))).toEqual([]);
    expect(['main.js', 'serve.js', 'services.js'].filter((name) => ignored(patterns, name))).toEqual([]);
  });

  it('leaves out every other top-level entry of the repository', () => {
    const patterns = funcignore();
    const entries = new Set([...readdirSync(REPO_ROOT), ...GENERATED]);
    const shipped = [...entries].filter((name) => !DEPLOYED.includes(name) && !ignored(patterns, name)).sort();
    expect(shipped).toEqual([]);
  });

  it('matches what package.json runs: main is dist/main.js, built by npm run build', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { main?: string; scripts?: Record<string, string> };
    expect(pkg.main).toBe('dist/main.js');
    expect(pkg.scripts?.build).toBeDefined();
  });
});

/**
 * A reader for the YAML subset azure.yaml uses (block mappings of plain scalars, comments), so the
 * test needs no YAML dependency. Anything outside that subset fails the test rather than being
 * misread.
 */
function readYamlSubset(text: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  const stack: { indent: number; map: Record<string, unknown> }[] = [{ indent: -1, map: root }];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\s+#.*$/, '').replace(/^#.*$/, '');
    if (line.trim() === '') continue;
    const match = /^( *)([A-Za-z0-9_.-]+):(?: +(.*))?$/.exec(line);
    if (match === null) throw new Error(`azure.yaml: outside the YAML subset this test reads: "${raw}"`);
    const indent = match[1]!.length;
    while (stack.length > 1 && stack[stack.length - 1]!.indent >= indent) stack.pop();
    const parent = stack[stack.length - 1]!.map;
    const value = match[3];
    if (value === undefined || value === '') {
      const child: Record<string, unknown> = {};
      parent[match[2]!] = child;
      stack.push({ indent, map: child });
    } else {
      parent[match[2]!] = value === 'true' ? true : value === 'false' ? false : value;
    }
  }
  return root;
}

describe('azure.yaml', () => {
  const yaml = readYamlSubset(readFileSync(join(REPO_ROOT, 'azure.yaml'), 'utf8'));

  it('provisions infra/main.bicep', () => {
    expect(yaml.infra).toEqual({ provider: 'bicep', path: 'infra', module: 'main' });
    expect(existsSync(join(REPO_ROOT, 'infra', 'main.bicep'))).toBe(true);
  });

  it('deploys the repository root as the api function app, built locally', () => {
    const api = (yaml.services as Record<string, Record<string, unknown>>).api;
    expect(api).toMatchObject({ project: '.', language: 'ts', host: 'function', remoteBuild: false });
    expect(api?.hooks).toEqual({
      prepackage: { posix: { shell: 'sh', run: 'npm run build' }, windows: { shell: 'pwsh', run: 'npm run build' } },
    });
  });

  it('creates the key ring after provisioning, with a script that exists', () => {
    const hooks = yaml.hooks as Record<string, Record<string, { run?: string }>>;
    const runs = Object.values(hooks.postprovision ?? {}).map((h) => h.run);
    expect(runs).toEqual(['node infra/hooks/ensure-key-ring.js', 'node infra/hooks/ensure-key-ring.js']);
    expect(existsSync(join(REPO_ROOT, 'infra', 'hooks', 'ensure-key-ring.js'))).toBe(true);
  });
});

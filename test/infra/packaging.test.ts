/**
 * What gets deployed: `npm run package` writes the deploy package (scripts/package.mjs), azure.yaml
 * deploys that folder without a remote build, and the documented `func azure functionapp publish`
 * runs from it with the worker runtime set. The rules of azd and Core Tools are encoded here as
 * their sources state them (issue 13), since nothing in the tests reaches Azure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { buildApp } from '../support/instances';
import { REPO_ROOT } from './bicep';

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

interface AzdService {
  readonly project: string;
  readonly language: string;
  readonly host: string;
  readonly remoteBuild?: boolean;
  readonly hooks?: unknown;
}

const yaml = readYamlSubset(readFileSync(join(REPO_ROOT, 'azure.yaml'), 'utf8'));
const services = yaml.services as Record<string, AzdService>;
const api = services.api!;

/**
 * Whether a .funcignore excludes the top-level folder `name`, with gitignore's rules for the
 * patterns that can: `name`, `/name`, `name/`, `**` + `/name`, `*` and `?` wildcards, and `!`
 * negations (the last matching line wins). A pattern with a slash inside (`node_modules/@types/`)
 * matches something below the folder, never the folder itself.
 */
function ignoresFolder(ignoreFile: string, name: string): boolean {
  let ignored = false;
  for (const raw of ignoreFile.split(/\r?\n/)) {
    let line = raw.replace(/^\uFEFF/, '').replace(/(?<!\\)\s+$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    if (negated) line = line.slice(1);
    line = line.replace(/^\*\*\//, '').replace(/^\//, '').replace(/\/$/, '');
    if (line.includes('/')) continue;
    const pattern = new RegExp(`^${line.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*+/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
    if (pattern.test(name)) ignored = !negated;
  }
  return ignored;
}

/**
 * azd's rule for a JavaScript or TypeScript function app service (Azure/azure-dev,
 * cli/azd/pkg/project/service_target_functionapp.go, resolveFunctionAppRemoteBuild): with an
 * ignore file in the service's project folder, `remoteBuild: true` requires it to exclude
 * node_modules and `remoteBuild: false` requires it not to. The error azd gives, or undefined.
 */
function azdRemoteBuildError(service: Pick<AzdService, 'language' | 'host' | 'remoteBuild'>, funcignore: string | undefined): string | undefined {
  if (service.host !== 'function' || !['js', 'ts', 'javascript', 'typescript'].includes(service.language)) return undefined;
  if (funcignore === undefined || service.remoteBuild === undefined) return undefined;
  const excluded = ignoresFolder(funcignore, 'node_modules');
  if (service.remoteBuild && !excluded) return "'remoteBuild: true' requires '.funcignore' to exclude node_modules";
  if (!service.remoteBuild && excluded) return "'remoteBuild: false' cannot be used when '.funcignore' excludes node_modules";
  return undefined;
}

const PACKAGE_DIR = join(REPO_ROOT, api.project);

/** Every file under a folder, relative to it, with forward slashes. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  );
}

beforeAll(() => {
  buildApp();
  const result = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'package.mjs')], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`node scripts/package.mjs failed (status ${result.status}):\n${result.stdout}${result.stderr}`);
}, 120_000);

describe('azure.yaml', () => {
  it('provisions infra/main.bicep', () => {
    expect(yaml.infra).toEqual({ provider: 'bicep', path: 'infra', module: 'main' });
    expect(existsSync(join(REPO_ROOT, 'infra', 'main.bicep'))).toBe(true);
  });

  it('deploys the folder npm run package writes as the api function app, built locally, packaged by project hooks', () => {
    expect(api).toEqual({ project: 'dist-package', language: 'ts', host: 'function', remoteBuild: false });
    // The folder is build output: gitignored, and made by `npm run package` (its default --out).
    expect(readFileSync(join(REPO_ROOT, '.gitignore'), 'utf8').split(/\r?\n/)).toContain(`${api.project}/`);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.package).toBe('node scripts/build.mjs --only app && node scripts/package.mjs');
    expect(readFileSync(join(REPO_ROOT, 'scripts', 'package.mjs'), 'utf8')).toContain(`const DEFAULT_PACKAGE_DIR = '${api.project}';`);
    // Service hooks run in the service's folder (azd: HooksManagerOptions{Cwd: service.Path()}),
    // which a fresh clone does not have; project hooks run in the repository root. `azd package`
    // and `azd up` fire prepackage; `azd deploy` packages inside its own action and fires predeploy.
    const run = { posix: { shell: 'sh', run: 'npm run package' }, windows: { shell: 'pwsh', run: 'npm run package' } };
    const hooks = yaml.hooks as Record<string, unknown>;
    expect({ prepackage: hooks.prepackage, predeploy: hooks.predeploy }).toEqual({ prepackage: run, predeploy: run });
  });

  it('creates the key ring after provisioning, with a script that exists', () => {
    const hooks = yaml.hooks as Record<string, Record<string, { run?: string }>>;
    const runs = Object.values(hooks.postprovision ?? {}).map((h) => h.run);
    expect(runs).toEqual(['node infra/hooks/ensure-key-ring.js', 'node infra/hooks/ensure-key-ring.js']);
    expect(existsSync(join(REPO_ROOT, 'infra', 'hooks', 'ensure-key-ring.js'))).toBe(true);
  });

  it("passes azd's remoteBuild rule: every function service's .funcignore agrees with its remoteBuild", () => {
    const problems = Object.entries(services).flatMap(([name, service]) => {
      const ignoreFile = join(REPO_ROOT, service.project, '.funcignore');
      const error = azdRemoteBuildError(service, existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8') : undefined);
      return error === undefined ? [] : [`${name}: ${error}`];
    });
    expect(problems).toEqual([]);
    // remoteBuild false is checked against a real file, not skipped for want of one.
    expect(existsSync(join(PACKAGE_DIR, '.funcignore'))).toBe(true);
  });
});

describe("azd's remoteBuild rule, as this test reads .funcignore", () => {
  const ts = { language: 'ts', host: 'function' } as const;

  it.each(['node_modules', 'node_modules/', '/node_modules', '**/node_modules', 'node_*', 'src\nnode_modules\n# end'])('%j excludes node_modules: remoteBuild false fails', (text) => {
    expect(azdRemoteBuildError({ ...ts, remoteBuild: false }, text)).toBe("'remoteBuild: false' cannot be used when '.funcignore' excludes node_modules");
    expect(azdRemoteBuildError({ ...ts, remoteBuild: true }, text)).toBeUndefined();
  });

  it.each(['', 'node_modules/@types/', '# node_modules', 'node_modules\n!node_modules', 'node_modules.txt'])('%j keeps node_modules: remoteBuild true fails', (text) => {
    expect(azdRemoteBuildError({ ...ts, remoteBuild: true }, text)).toBe("'remoteBuild: true' requires '.funcignore' to exclude node_modules");
    expect(azdRemoteBuildError({ ...ts, remoteBuild: false }, text)).toBeUndefined();
  });

  it('applies to JavaScript and TypeScript function apps with an ignore file and remoteBuild set', () => {
    expect(azdRemoteBuildError({ language: 'python', host: 'function', remoteBuild: false }, 'node_modules')).toBeUndefined();
    expect(azdRemoteBuildError({ ...ts }, 'node_modules')).toBeUndefined();
    expect(azdRemoteBuildError({ ...ts, remoteBuild: false }, undefined)).toBeUndefined();
  });
});

describe('the deploy package (npm run package)', () => {
  it('holds host.json, the two bundles, a package.json with no dependencies and no scripts, its .funcignore and the runtime setting', () => {
    expect(filesUnder(PACKAGE_DIR).sort()).toEqual(['.funcignore', 'dist/main.js', 'dist/services.js', 'host.json', 'local.settings.json', 'package.json']);
    const manifest = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(manifest).sort()).toEqual(['description', 'main', 'name', 'private', 'version']);
    expect(manifest.main).toBe('dist/main.js');
    expect(readFileSync(join(PACKAGE_DIR, 'host.json'), 'utf8')).toBe(readFileSync(join(REPO_ROOT, 'host.json'), 'utf8'));
    for (const bundle of ['dist/main.js', 'dist/services.js']) {
      expect(readFileSync(join(PACKAGE_DIR, bundle)).equals(readFileSync(join(REPO_ROOT, bundle)))).toBe(true);
    }
    // Nothing secret: the one setting Core Tools needs before it can publish.
    expect(JSON.parse(readFileSync(join(PACKAGE_DIR, 'local.settings.json'), 'utf8'))).toEqual({ IsEncrypted: false, Values: { FUNCTIONS_WORKER_RUNTIME: 'node' } });
  });

  it('.funcignore keeps what runs and leaves out local settings and what npm install writes', () => {
    const text = readFileSync(join(PACKAGE_DIR, '.funcignore'), 'utf8');
    expect(['host.json', 'package.json', 'dist'].filter((name) => ignoresFolder(text, name))).toEqual([]);
    expect(['local.settings.json', 'package-lock.json'].filter((name) => !ignoresFolder(text, name))).toEqual([]);
    expect(ignoresFolder(text, 'node_modules')).toBe(false);
  });

  it('refuses to empty a folder it did not make', () => {
    const result = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'package.mjs'), '--out', join(REPO_ROOT, 'infra')], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('is not empty and was not made by npm run package');
    expect(existsSync(join(REPO_ROOT, 'infra', 'main.bicep'))).toBe(true);
  });
});

/**
 * The worker runtime `func azure functionapp publish` resolves, as azure-functions-core-tools does
 * (GlobalCoreToolsSettings.Init, WorkerRuntimeLanguageHelper.GetCurrentWorkerRuntimeLanguage,
 * SecretsManager.AppSettingsFilePath): a language flag on the command line, else
 * FUNCTIONS_WORKER_RUNTIME from the environment, else from local.settings.json in the function app
 * root (the nearest folder, from the current one up, with host.json or local.settings.json). A clean
 * checkout has only the files git tracks, plus what the documented steps generate.
 */
function publishRuntime(commands: readonly string[], exists: (file: string) => boolean): { runtime: string | undefined; root: string } {
  let cwd = REPO_ROOT;
  const env: Record<string, string> = {};
  for (const command of commands) {
    const cd = /^cd\s+(\S+)$/.exec(command);
    if (cd) cwd = resolve(cwd, cd[1]!);
    const exported = /^export\s+([A-Z_]+)=(\S+)$/.exec(command);
    if (exported) env[exported[1]!] = exported[2]!;
    const publish = /^((?:[A-Z_]+=\S+\s+)*)func azure functionapp publish\s+(.*)$/.exec(command);
    if (!publish) continue;
    for (const assignment of publish[1]!.trim().split(/\s+/).filter(Boolean)) {
      const [name, value] = assignment.split('=');
      env[name!] = value!;
    }
    let root = cwd;
    while (!exists(join(root, 'host.json')) && !exists(join(root, 'local.settings.json'))) {
      if (dirname(root) === root) throw new Error(`no function app root from ${cwd}`);
      root = dirname(root);
    }
    const flags = publish[2]!.split(/\s+/);
    if (flags.some((f) => ['--javascript', '--typescript', '--node'].includes(f))) return { runtime: 'node', root };
    if (env.FUNCTIONS_WORKER_RUNTIME !== undefined) return { runtime: env.FUNCTIONS_WORKER_RUNTIME, root };
    const settings = join(root, 'local.settings.json');
    const values = exists(settings) ? (JSON.parse(readFileSync(settings, 'utf8')) as { Values?: Record<string, string> }).Values : undefined;
    return { runtime: values?.FUNCTIONS_WORKER_RUNTIME, root };
  }
  throw new Error('no func azure functionapp publish command');
}

/** The shell command sequences of a Markdown file that publish with Core Tools: fenced blocks, and inline code joined with &&. */
function publishInstructions(markdown: string): string[][] {
  const sequences: string[][] = [];
  for (const block of markdown.matchAll(/^```(?:sh|bash)\n([\s\S]*?)^```$/gm)) {
    const lines = block[1]!
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map((line) => line.replace(/\s+#.*$/, '').trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    if (lines.some((line) => line.includes('func azure functionapp publish'))) sequences.push(lines.flatMap((line) => line.split(/\s*&&\s*/)));
  }
  for (const span of markdown.matchAll(/`([^`\n]*func azure functionapp publish[^`\n]*)`/g)) sequences.push(span[1]!.split(/\s*&&\s*/));
  return sequences;
}

describe('the documented func azure functionapp publish, from a clean checkout', () => {
  const tracked = new Set(
    spawnSync('git', ['ls-files'], { cwd: REPO_ROOT, encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)
      .map((file) => join(REPO_ROOT, file)),
  );
  /** Tracked files, and the package the documented `npm run package` writes. */
  const inCleanCheckout = (file: string): boolean =>
    tracked.has(file) || (!relative(PACKAGE_DIR, file).startsWith('..') && existsSync(file) && statSync(file).isFile());

  it.each(['docs/deploy.md', 'README.md'])('%s: runs npm run package, publishes the package folder and sets the worker runtime', (doc) => {
    const sequences = publishInstructions(readFileSync(join(REPO_ROOT, doc), 'utf8'));
    expect(sequences.length).toBeGreaterThan(0);
    for (const commands of sequences) {
      const publish = commands.findIndex((c) => c.includes('func azure functionapp publish'));
      expect({ commands, packagedFirst: commands.slice(0, publish).includes('npm run package') }).toEqual({ commands, packagedFirst: true });
      const { runtime, root } = publishRuntime(commands, inCleanCheckout);
      expect({ commands, root: posix.normalize(relative(REPO_ROOT, root).split('\\').join('/')), runtime }).toEqual({ commands, root: api.project, runtime: 'node' });
      expect(commands[publish]).toMatch(/ --no-build$/);
    }
  });

  it('would stop with "Worker runtime is not set" from the repository root of a clean checkout', () => {
    const fromRoot = publishRuntime(['npm run build', 'func azure functionapp publish app --no-build'], inCleanCheckout);
    expect(fromRoot).toEqual({ runtime: undefined, root: REPO_ROOT });
  });
});

/**
 * The README's requirements for the browser tests name every Debian package those tests run
 * programs from (issue 13, finding 2: with Chromium alone a newcomer got `spawnSync certutil
 * ENOENT`), and CI installs the same packages.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './bicep';

/** Programs the e2e support code starts, and the Debian package each comes from. */
const DEBIAN_PACKAGE_OF: Readonly<Record<string, string>> = { certutil: 'libnss3-tools', '/usr/bin/chromium': 'chromium' };

function e2eSources(): string {
  const dir = join(REPO_ROOT, 'test', 'e2e');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.ts'))
    .map((name) => readFileSync(join(dir, name), 'utf8'))
    .join('\n');
}

/** Programs started by execFileSync/spawnSync/execFile/spawn('<program>', ...) or given as a path default. */
function programsUsed(source: string): string[] {
  const started = [...source.matchAll(/\b(?:execFileSync|execFile|spawnSync|spawn)\(\s*'([^']+)'/g)].map((m) => m[1]!);
  const paths = [...source.matchAll(/'(\/usr\/bin\/[a-z0-9.-]+)'/g)].map((m) => m[1]!);
  return [...new Set([...started, ...paths])].sort();
}

describe('browser test requirements', () => {
  const needed = programsUsed(e2eSources());

  it('every program the e2e tests start comes from a known Debian package', () => {
    expect(needed.filter((program) => DEBIAN_PACKAGE_OF[program] === undefined)).toEqual([]);
    expect(needed).toEqual(expect.arrayContaining(['certutil', '/usr/bin/chromium']));
  });

  it('the README names them all where it introduces npm run test:e2e', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const bullet = /^- `npm run test:e2e`[^\n]*(?:\n {2}[^\n]*)*/m.exec(readme)?.[0] ?? '';
    const install = /apt-get install(?: -y)? ([a-z0-9 .+-]+)`/.exec(bullet)?.[1]?.trim().split(/\s+/) ?? [];
    expect(install.sort()).toEqual([...new Set(needed.map((p) => DEBIAN_PACKAGE_OF[p]!))].sort());
  });

  it('CI installs the same packages', () => {
    const ci = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8');
    const install = /apt-get install -y(?: --no-install-recommends)? ([a-z0-9 .+-]+)$/m.exec(ci)?.[1]?.trim().split(/\s+/) ?? [];
    expect(install.sort()).toEqual([...new Set(needed.map((p) => DEBIAN_PACKAGE_OF[p]!))].sort());
  });
});

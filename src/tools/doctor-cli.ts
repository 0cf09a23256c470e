/**
 * Entry of dist/tools/doctor.js (`npm run doctor [-- --settings <file>]`). Settings: the environment,
 * then local.settings.json (or the file given), as `npm run serve` reads them.
 * Exit 0: every check passed (or could only be checked on Azure); 1: a problem (one ✗ line each);
 * 2: bad usage. See src/tools/doctor.ts for the checks.
 */
import { existsSync } from 'node:fs';
import { withLocalSettings } from '../local-settings';
import { runDoctor } from './doctor';
import { exitCode, failed, formatResult, formatSummary, type CheckResult } from './report';

const USAGE = 'usage: npm run doctor [-- --settings <local.settings.json>]';

/** Writes everything, then exits: the Azure SDK's and Graph's keep-alive sockets must not hold the process. */
function finish(lines: readonly string[], code: number, stream: NodeJS.WriteStream = process.stdout): void {
  stream.write(lines.map((l) => `${l}\n`).join(''), () => process.exit(code));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) return finish([USAGE], 0);
  let file = 'local.settings.json';
  if (argv.length === 2 && argv[0] === '--settings' && argv[1]) file = argv[1];
  else if (argv.length > 0) return finish([`doctor: unknown arguments: ${argv.join(' ')}`, USAGE], 2, process.stderr);

  let results: CheckResult[];
  try {
    results = await runDoctor({ env: withLocalSettings(process.env, file) });
  } catch (error) {
    // withLocalSettings: the file is not JSON, or its "Values" is not an object.
    results = [failed('settings', { code: 'settings_file_invalid', message: error instanceof Error ? error.message : String(error) })];
  }
  finish([`doctor: settings from the environment and ${existsSync(file) ? file : `${file} (not found)`}`, ...results.flatMap(formatResult), formatSummary('doctor', results)], exitCode(results));
}

main().catch((error: unknown) => finish([`doctor: ${error instanceof Error ? error.message : String(error)}`], 2, process.stderr));

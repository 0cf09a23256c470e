/**
 * Entry of dist/tools/smoke.js (`npm run smoke -- <base-url> [--authority <url>] [--timeout <s>]`).
 * Exit 0: every check passed; 1: a check failed (one ✗ line per problem); 2: bad usage.
 * See src/tools/smoke.ts for the checks.
 */
import { exitCode, formatResult, formatSummary } from './report';
import { parseBaseUrl, runSmoke, SmokeUsageError } from './smoke';

const USAGE = 'usage: npm run smoke -- <base-url> [--authority <CLOUD_INSTANCE + TENANT_ID>] [--timeout <seconds>]';

interface Args {
  readonly baseUrl: string;
  readonly authority?: string;
  readonly timeoutMs?: number;
}

function parseArgs(argv: readonly string[]): Args {
  let baseUrl: string | undefined;
  let authority: string | undefined;
  let timeoutMs: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v === '') throw new SmokeUsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--authority') {
      const text = value();
      try {
        const url = new URL(text);
        if (url.protocol !== 'https:') throw new Error();
        authority = url.href.replace(/\/+$/, '');
      } catch {
        throw new SmokeUsageError(`--authority must be an https:// URL such as https://login.microsoftonline.com/<tenant-id> ("${text}")`);
      }
    } else if (arg === '--timeout') {
      const seconds = Number(value());
      if (!Number.isFinite(seconds) || seconds <= 0) throw new SmokeUsageError('--timeout must be a positive number of seconds');
      timeoutMs = seconds * 1000;
    } else if (arg.startsWith('-')) {
      throw new SmokeUsageError(`unknown option ${arg}`);
    } else if (baseUrl === undefined) {
      baseUrl = arg;
    } else {
      throw new SmokeUsageError(`one base URL only ("${arg}")`);
    }
  }
  return { baseUrl: parseBaseUrl(baseUrl), ...(authority !== undefined ? { authority } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof SmokeUsageError)) throw error;
    console.error(`smoke: ${error.message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  console.log(`smoke: ${args.baseUrl}`);
  const results = await runSmoke(args);
  for (const result of results) for (const line of formatResult(result)) console.log(line);
  console.log(formatSummary('smoke', results));
  process.exitCode = exitCode(results);
}

main().catch((error: unknown) => {
  console.error(`smoke: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
});

/**
 * What `npm run smoke` and `npm run doctor` print: one line per check that passed, one line per
 * problem found, each problem with a stable code and what to do. Plain Node, no dependencies (smoke
 * must run anywhere Node runs, with no Azure login and no `npm ci`).
 *
 *   ✓ health: GET /api/health answered 200
 *   ✗ login [login_redirect_uri]: redirect_uri is "...", expected "...". Fix: ...
 *   · client-credential: not checked here: ...
 *
 * A note (·) is neither a pass nor a problem: something this machine cannot check, said as such.
 */

export interface Problem {
  /** Stable, snake_case: scripts and tests match on it, never on the text. */
  readonly code: string;
  /** What is wrong and what to do. Never a token, secret, cookie value or personal data. */
  readonly message: string;
}

export interface CheckResult {
  /** Short name of the check, e.g. `health`. */
  readonly check: string;
  /** Empty when the check passed (then `summary` says what was seen). */
  readonly problems: readonly Problem[];
  readonly summary: string;
  /** Set when the check could not run here: neither passed nor failed. */
  readonly note?: boolean;
}

export function passed(check: string, summary: string): CheckResult {
  return { check, problems: [], summary };
}

export function failed(check: string, problems: readonly Problem[] | Problem): CheckResult {
  const list = Array.isArray(problems) ? problems : [problems as Problem];
  return { check, problems: list, summary: '' };
}

export function noted(check: string, summary: string): CheckResult {
  return { check, problems: [], summary, note: true };
}

/** The lines for one check: a ✓ or · line, or one ✗ line per problem. */
export function formatResult(result: CheckResult): string[] {
  if (result.problems.length === 0) return [`${result.note ? '·' : '✓'} ${result.check}: ${result.summary}`];
  return result.problems.map((p) => `✗ ${result.check} [${p.code}]: ${p.message}`);
}

/** The closing line. */
export function formatSummary(tool: string, results: readonly CheckResult[]): string {
  const failing = results.filter((r) => r.problems.length > 0).length;
  const problems = results.reduce((n, r) => n + r.problems.length, 0);
  const notes = results.filter((r) => r.note).length;
  const noteText = notes > 0 ? ` (${notes} not checked here)` : '';
  return failing === 0
    ? `${tool}: all ${results.length - notes} checks passed${noteText}`
    : `${tool}: ${problems} problem${problems === 1 ? '' : 's'} in ${failing} of ${results.length} checks${noteText}`;
}

/** 0 when nothing failed, 1 otherwise (2 is reserved for bad usage). */
export function exitCode(results: readonly CheckResult[]): number {
  return results.some((r) => r.problems.length > 0) ? 1 : 0;
}

/** The short reason of a network failure (ECONNREFUSED, a TLS error code, a timeout), never a URL's secrets. */
export function networkReason(error: unknown): string {
  // fetch's timeout is a DOMException, not an Error in every Node version: tell it by name.
  const name = (error as { name?: unknown } | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return 'no answer in time';
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.message : String(error);
}

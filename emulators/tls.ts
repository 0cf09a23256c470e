/**
 * TLS for the local emulators: a test CA generated once into `.local/tls/` (gitignored) and server
 * certificates issued from it for 127.0.0.1 and localhost. Clients trust the CA through
 * NODE_EXTRA_CA_CERTS (see scripts/with-test-ca.mjs); certificate checks are never turned off.
 *
 * The implementation lives in scripts/test-ca.cjs (plain CommonJS, no dependencies) so that
 * with-test-ca.mjs, the emulator bundle and jest all load the same code.
 */
import * as testCa from '../scripts/test-ca.cjs';
import type { IssuedCertificate, IssueOptions, TestCa } from '../scripts/test-ca.cjs';

export type { IssuedCertificate, IssueOptions, TestCa };

/** Where the CA lives unless told otherwise, relative to the working directory. */
export const DEFAULT_TLS_DIR = testCa.DEFAULT_DIR;

/** Creates the test CA (key + self-signed certificate, CA:true, keyCertSign) once in `dir`, then reuses it. */
export function ensureTestCa(dir: string = DEFAULT_TLS_DIR): TestCa {
  return testCa.ensureTestCa(dir);
}

/**
 * A server certificate signed by the CA: SANs IP 127.0.0.1 and DNS localhost (or `hosts`),
 * EKU serverAuth, valid for a few days. Returns PEMs for `https.createServer({ cert, key })`.
 */
export function issueServerCertificate(
  ca: Pick<TestCa, 'certPem' | 'keyPem'>,
  hosts: readonly string[] = ['127.0.0.1', 'localhost'],
  days = 7,
): IssuedCertificate {
  return testCa.issueServerCertificate(ca, hosts, days);
}

/** Any leaf certificate signed by the CA, e.g. an RSA client certificate for `private_key_jwt`. */
export function issueCertificate(ca: Pick<TestCa, 'certPem' | 'keyPem'>, options: IssueOptions = {}): IssuedCertificate {
  return testCa.issueCertificate(ca, options);
}

/** Types for scripts/test-ca.cjs (the test CA shared by with-test-ca.mjs, the emulators and tests). */
export interface TestCa {
  readonly certPem: string;
  readonly keyPem: string;
  readonly certPath: string;
  readonly keyPath: string;
}

export interface IssuedCertificate {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM PKCS#8 private key. */
  readonly key: string;
}

export interface IssueOptions {
  /** DNS names and IP addresses for the subjectAltName (default 127.0.0.1 and localhost; none for client certificates). */
  readonly hosts?: readonly string[];
  /** Validity in days (default 7). */
  readonly days?: number;
  /** Key type (default 'ec', P-256); 'rsa' is RSA 2048. */
  readonly keyType?: 'ec' | 'rsa';
  /** Extended key usage (default 'server'). */
  readonly usage?: 'server' | 'client' | 'both';
  readonly commonName?: string;
}

export declare const DEFAULT_DIR: string;
export declare const CA_NAME: string;
export declare function ensureTestCa(dir?: string): TestCa;
export declare function issueCertificate(ca: Pick<TestCa, 'certPem' | 'keyPem'>, options?: IssueOptions): IssuedCertificate;
export declare function issueServerCertificate(
  ca: Pick<TestCa, 'certPem' | 'keyPem'>,
  hosts?: readonly string[],
  days?: number,
): IssuedCertificate;

/**
 * Reading a Key Vault certificate's secret (PEM: private key + chain) into msal-node's
 * `clientCertificate`: thumbprint, key, x5c; and refusing what Entra or msal-node cannot use,
 * without quoting the PEM.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, X509Certificate } from 'node:crypto';
import { ensureTestCa, issueCertificate, type TestCa } from '../../emulators/tls';
import { certificateThumbprintSha256, parseClientCertificate } from '../../src/secrets/certificate';
import { UnusableSecretError } from '../../src/secrets/cached-secret';

/** A self-signed certificate whose SHA-256 fingerprint `openssl x509 -noout -fingerprint -sha256` reported. */
const VECTOR_CERT = `-----BEGIN CERTIFICATE-----
MIIDLzCCAhegAwIBAgIUDV4jo0AmDx5zOQU/PwDCiEIAsvEwDQYJKoZIhvcNAQEL
BQAwJjEkMCIGA1UEAwwbZW50cmEtYmZmIHRodW1icHJpbnQgdmVjdG9yMCAXDTI2
MTEyMjAzNTY1NloYDzIxMjYxMDI5MDM1NjU2WjAmMSQwIgYDVQQDDBtlbnRyYS1i
ZmYgdGh1bWJwcmludCB2ZWN0b3IwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEK
AoIBAQCXVvs/6Q4Ne0ql5+2QKvosxo4wGKuVy0PCPB3ulf+3VQNGBiKASDwwkoJK
zKklvhX7wV4vi974HaiM3IIN6Am5iSd6nCFaGmvL1RXBMGurRRzUrDeUk8Rv5vJp
6Dd3G2Nwe45OFQgkE4hX3JszjUyLvp7ZzCFmZrAn+qSuciBcSBeI6P1ro9o0aa9D
WBtL53TX7BkOnScX30CHXOQdFcXmm+h30cdNRJNGwp0REl48r3R8NrBlTj7KQBFk
Y/j5cxMLsTwAGHFU3ziQkosSxRZEqG/QWuQU2x8pY+2FTk89TvHIVK7OQXkaYs1h
c+/zxHHJrhhfaznnjOOXfTJpnCilAgMBAAGjUzBRMB0GA1UdDgQWBBR83Ao5L7xo
edfpnK90tk0FC6LbizAfBgNVHSMEGDAWgBR83Ao5L7xoedfpnK90tk0FC6LbizAP
BgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4IBAQCKrstumj+0bwPhBFff
m9iQB8567xBAlufH+Xnkru3POVUzh5d/aZmKDe2AfYN48PKA3TqAT0NUSROysusE
zEh56oy3cSo2/YJbxnOjyviXCkDf2IGcZdUi1Q4XJZ58WYFybylkBQta1a1QG9KC
UZcTRfXX1GAoZB5AICnGo3iohfqZvtxgNJ5LROvaKfTX28tOMEDyeY9vqgkCl8+G
7qx9Wj7/mm5qPQFWMhwLQcR4YLpfVKEvv2cXwLKigCVvM8PkyvS31u+EPTwDaf7k
KAANC1l5Y5SUWHyWdSnJJ2h6cXlFQGKayyEIfe0jpHH25Y1bft2N8O4Ys4SphdYV
UqaD
-----END CERTIFICATE-----
`;
const VECTOR_SHA256 = 'eeca7b42cc5ea996192a128dc1cdf3785693ebc9644fbb510cfb93f2a0138fe7';

const NOW = Date.now();
let ca: TestCa;
let rsa: { cert: string; key: string };

beforeAll(() => {
  ca = ensureTestCa();
  rsa = issueCertificate(ca, { keyType: 'rsa', usage: 'client', commonName: 'entra-bff client' });
});

function parse(value: string, contentType: string | undefined = 'application/x-pem-file', now = NOW) {
  return parseClientCertificate({ value, contentType, now });
}

function unusable(fn: () => unknown): UnusableSecretError {
  try {
    fn();
  } catch (error) {
    if (error instanceof UnusableSecretError) return error;
    throw error;
  }
  throw new Error('expected UnusableSecretError');
}

describe('certificateThumbprintSha256', () => {
  test('is the hex SHA-256 of the DER certificate (openssl vector)', () => {
    expect(certificateThumbprintSha256(VECTOR_CERT)).toBe(VECTOR_SHA256);
    expect(certificateThumbprintSha256(new X509Certificate(VECTOR_CERT))).toBe(VECTOR_SHA256);
  });
});

describe('parseClientCertificate', () => {
  test('Key Vault layout (key first, then the leaf, then the issuer): thumbprint, PKCS#8 key and x5c leaf first', () => {
    const pem = `${rsa.key}${rsa.cert}${ca.certPem}`;
    const parsed = parse(pem);
    expect(parsed.thumbprintSha256).toBe(new X509Certificate(rsa.cert).fingerprint256.replace(/:/g, '').toLowerCase());
    expect(parsed.thumbprintSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(parsed.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/);
    // The key signs what the certificate's public key verifies (the pair belongs together).
    const signature = sign('sha256', Buffer.from('x'), createPrivateKey(parsed.privateKey));
    expect(verify('sha256', Buffer.from('x'), createPublicKey(rsa.cert), signature)).toBe(true);
    const chain = [...parsed.x5c.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
    expect(chain.map((c) => c.fingerprint256)).toEqual([new X509Certificate(rsa.cert).fingerprint256, new X509Certificate(ca.certPem).fingerprint256]);
    expect(parsed.subject).toContain('entra-bff client');
  });

  test('finds the leaf by its key wherever it sits, accepts CRLF and a PKCS#1 key', () => {
    const pkcs1 = createPrivateKey(rsa.key).export({ type: 'pkcs1', format: 'pem' }).toString();
    const pem = `${ca.certPem}${rsa.cert}${pkcs1}`.replace(/\n/g, '\r\n');
    const parsed = parse(pem, undefined);
    expect(parsed.thumbprintSha256).toBe(certificateThumbprintSha256(rsa.cert));
    expect(parsed.x5c.indexOf(new X509Certificate(rsa.cert).toString().trim())).toBe(0);
  });

  test('msal-node reads the same chain out of x5c', () => {
    // msal-node's ClientAssertion.parseCertificate regex, applied to our x5c.
    const regex = /-----BEGIN CERTIFICATE-----\r*\n(.+?)\r*\n-----END CERTIFICATE-----/gs;
    const parsed = parse(`${rsa.key}${rsa.cert}${ca.certPem}`);
    const certs = [...parsed.x5c.matchAll(regex)].map((m) => (m[1] ?? '').replace(/\r*\n/g, ''));
    expect(certs).toHaveLength(2);
    expect(Buffer.from(certs[0]!, 'base64').equals(new X509Certificate(rsa.cert).raw)).toBe(true);
  });

  test('refuses PKCS#12, with what to change', () => {
    const error = unusable(() => parse('MIIKdAIBAzCCCi4GCSqGSIb3DQEHAaCCCh8Egg', 'application/x-pkcs12'));
    expect(error.message).toBe(
      "is not PEM (content type application/x-pkcs12): create the certificate with content type application/x-pem-file (the certificate policy's secretProperties.contentType), or import a PEM file holding the private key and the certificate.",
    );
    expect(error.message).not.toContain('MIIK');
  });

  test('refuses a PEM without a key, without a certificate, with a foreign certificate, or with two keys', () => {
    expect(unusable(() => parse(rsa.cert)).message).toMatch(/^has no private key: /);
    expect(unusable(() => parse(rsa.key)).message).toBe('has no certificate: store the certificate together with its private key.');
    expect(unusable(() => parse(`${rsa.key}${ca.certPem}`)).message).toBe('has no certificate that matches its private key.');
    expect(unusable(() => parse(`${rsa.key}${rsa.key}${rsa.cert}`)).message).toBe('has 2 private keys: store exactly one, with its certificate.');
  });

  test('refuses an EC key (msal-node signs with PS256) and an encrypted key', () => {
    const ec = issueCertificate(ca, { keyType: 'ec', usage: 'client' });
    expect(unusable(() => parse(`${ec.key}${ec.cert}`)).message).toBe('has a key of type ec: Entra client certificates need an RSA key (msal-node signs with PS256).');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const encrypted = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'p' }).toString();
    expect(unusable(() => parse(`${encrypted}${rsa.cert}`)).message).toBe('holds an encrypted private key: store the key unencrypted (Key Vault protects it).');
  });

  test('refuses an expired certificate', () => {
    const notAfter = new Date(new X509Certificate(rsa.cert).validTo);
    const error = unusable(() => parse(`${rsa.key}${rsa.cert}`, 'application/x-pem-file', notAfter.getTime() + 1000));
    expect(error.message).toBe(
      `holds a certificate that expired on ${notAfter.toISOString()}: add a renewed version to the vault and upload its public part to the app registration.`,
    );
  });

  test('a broken block is reported without quoting it', () => {
    const broken = `-----BEGIN PRIVATE KEY-----\nTOPSECRETTOPSECRET\n-----END PRIVATE KEY-----\n${rsa.cert}`;
    const error = unusable(() => parse(broken));
    expect(error.message).toBe('holds a private key that cannot be parsed.');
    expect(error.message).not.toContain('TOPSECRET');
  });
});

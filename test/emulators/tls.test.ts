/**
 * The local test CA and the server certificates the emulators use: generated in pure JS, valid
 * X.509 that Node's TLS accepts for 127.0.0.1 and localhost when (and only when) the CA is trusted.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureTestCa, issueCertificate, issueServerCertificate } from '../../emulators/tls';

const DAY = 24 * 3600 * 1000;

describe('test CA', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'test-ca-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is created once in <dir>/ca.pem + ca-key.pem and reused', () => {
    const first = ensureTestCa(dir);
    expect(first.certPath).toBe(path.join(dir, 'ca.pem'));
    expect(first.keyPath).toBe(path.join(dir, 'ca-key.pem'));
    expect(readFileSync(first.certPath, 'utf8')).toBe(first.certPem);
    expect(statSync(first.keyPath).mode & 0o077).toBe(0); // the key is private to its owner

    const second = ensureTestCa(dir);
    expect(second.certPem).toBe(first.certPem);
    expect(second.keyPem).toBe(first.keyPem);

    const ca = new X509Certificate(first.certPem);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe(ca.issuer);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(Date.parse(ca.validTo) - Date.now()).toBeGreaterThan(365 * DAY);
    expect(ca.toLegacyObject().ext_key_usage).toBeUndefined();
    // keyCertSign + cRLSign, critical; CA:TRUE, critical (openssl's view, when openssl is there)
    const text = opensslText(first.certPath);
    if (text) {
      expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
      expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    }
  });

  it('is replaced when the files do not belong together', () => {
    const first = ensureTestCa(dir);
    const other = mkdtempSync(path.join(tmpdir(), 'test-ca-other-'));
    try {
      const stranger = ensureTestCa(other);
      writeFileSync(first.keyPath, stranger.keyPem);
      const repaired = ensureTestCa(dir);
      expect(repaired.certPem).not.toBe(first.certPem);
      expect(new X509Certificate(repaired.certPem).checkPrivateKey(createPrivateKey(repaired.keyPem))).toBe(true);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('is created once when several processes ask at the same time', () => {
    const script = `const ca = require(${JSON.stringify(path.resolve(__dirname, '../../scripts/test-ca.cjs'))}).ensureTestCa(${JSON.stringify(dir)}); process.stdout.write(ca.certPem);`;
    const outputs = Promise.all(
      Array.from({ length: 4 }, () =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, ['-e', script]);
          let out = '';
          child.stdout.on('data', (c: Buffer) => (out += c.toString()));
          child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
        }),
      ),
    );
    return outputs.then((pems) => {
      expect(new Set(pems).size).toBe(1);
      expect(pems[0]).toBe(readFileSync(path.join(dir, 'ca.pem'), 'utf8'));
      expect(existsSync(path.join(dir, '.ca.lock'))).toBe(false);
    });
  });
});

describe('server certificates', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'test-ca-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('carry SANs for 127.0.0.1 and localhost, serverAuth, and a validity of a few days', () => {
    const ca = ensureTestCa(dir);
    const { cert, key } = issueServerCertificate(ca);
    const x509 = new X509Certificate(cert);
    expect(x509.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost');
    expect(x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(x509.ca).toBe(false);
    expect(x509.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(x509.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkHost('example.com')).toBeUndefined();
    const lifetime = Date.parse(x509.validTo) - Date.now();
    expect(lifetime).toBeGreaterThan(2 * DAY);
    expect(lifetime).toBeLessThan(30 * DAY);
    expect(Date.parse(x509.validFrom)).toBeLessThan(Date.now());
    expect(x509.checkPrivateKey(createPrivateKey(key))).toBe(true);
  });

  it('are accepted by Node TLS for both names when the CA is trusted, and refused otherwise', async () => {
    const ca = ensureTestCa(dir);
    const { cert, key } = issueServerCertificate(ca);
    const server = https.createServer({ cert, key }, (_req, res) => res.end('hello'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const get = (host: string, trust?: string) =>
      new Promise<string>((resolve, reject) => {
        const req = https.get({ host, port, path: '/', agent: false, ...(trust ? { ca: trust } : {}) }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
      });
    try {
      expect(await get('127.0.0.1', ca.certPem)).toBe('hello');
      expect(await get('localhost', ca.certPem)).toBe('hello');
      const otherDir = mkdtempSync(path.join(tmpdir(), 'test-ca-x-'));
      try {
        await expect(get('127.0.0.1', ensureTestCa(otherDir).certPem)).rejects.toThrow(/certificate/i);
      } finally {
        rmSync(otherDir, { recursive: true, force: true });
      }
    } finally {
      server.close();
    }
  });

  it('can also be RSA client certificates (for private_key_jwt)', () => {
    const ca = ensureTestCa(dir);
    const { cert, key } = issueCertificate(ca, { keyType: 'rsa', usage: 'client', commonName: 'client' });
    const x509 = new X509Certificate(cert);
    expect(x509.publicKey.asymmetricKeyType).toBe('rsa');
    expect(x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(x509.subjectAltName).toBeUndefined();
    expect(x509.checkPrivateKey(createPrivateKey(key))).toBe(true);
    const text = opensslVerify(path.join(dir, 'ca.pem'), cert);
    if (text !== undefined) expect(text).toMatch(/OK/);
  });
});

function opensslText(file: string): string | undefined {
  try {
    return execFileSync('openssl', ['x509', '-in', file, '-noout', '-text'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

function opensslVerify(caFile: string, certPem: string): string | undefined {
  try {
    return execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', caFile], {
      input: certPem,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (error) {
    const e = error as { code?: string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') return undefined;
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

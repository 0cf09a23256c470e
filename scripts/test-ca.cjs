'use strict';
/**
 * The local test certificate authority, in plain CommonJS JavaScript with no dependencies, so that
 * every consumer can load it as it is: `scripts/with-test-ca.mjs` (Node, ESM), `emulators/tls.ts`
 * (bundled by esbuild into dist-dev/emulators.mjs) and jest tests (CommonJS through @swc/jest).
 *
 * Certificates are written as DER by hand (a few dozen lines of ASN.1) and signed with node:crypto;
 * no openssl CLI is needed. Keys are ECDSA P-256 (fast to generate) unless RSA is asked for (client
 * certificates for `private_key_jwt`, which msal-node signs with RS256/PS256).
 *
 * Files: `<dir>/ca.pem` (certificate) and `<dir>/ca-key.pem` (PKCS#8 private key), created once and
 * reused while valid. Never trust this CA outside a developer machine or CI: it exists only so that
 * local emulators speak real TLS, trusted through NODE_EXTRA_CA_CERTS.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');

const DEFAULT_DIR = '.local/tls';
const CA_VALID_DAYS = 3650;
/** Regenerate the CA when it has less than this left. */
const CA_RENEW_BEFORE_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

// ---------------------------------------------------------------------------------------------
// Minimal DER encoder
// ---------------------------------------------------------------------------------------------

function derLength(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag, content) {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

const sequence = (...items) => tlv(0x30, Buffer.concat(items));
const set = (...items) => tlv(0x31, Buffer.concat(items));
const explicit = (n, content) => tlv(0xa0 + n, content);
const octetString = (buf) => tlv(0x04, buf);
const bitString = (buf, unusedBits = 0) => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), buf]));
const booleanTrue = () => tlv(0x01, Buffer.from([0xff]));
const nullValue = () => Buffer.from([0x05, 0x00]);
const utf8String = (s) => tlv(0x0c, Buffer.from(s, 'utf8'));

function integer(buf) {
  let i = 0;
  while (i < buf.length - 1 && buf[i] === 0) i++;
  let content = buf.subarray(i);
  if (content[0] & 0x80) content = Buffer.concat([Buffer.from([0]), content]);
  return tlv(0x02, content);
}

function oid(dotted) {
  const parts = dotted.split('.').map(Number);
  const bytes = [40 * parts[0] + parts[1]];
  for (const part of parts.slice(2)) {
    const chunk = [part & 0x7f];
    let rest = Math.floor(part / 128);
    while (rest > 0) {
      chunk.unshift((rest & 0x7f) | 0x80);
      rest = Math.floor(rest / 128);
    }
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function time(date) {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, ''); // YYYYMMDDHHMMSS
  const year = date.getUTCFullYear();
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return year < 2050 ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii')) : tlv(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

function name(commonName) {
  return sequence(
    set(sequence(oid(OID.organization), utf8String('Local development (not trusted outside this machine)'))),
    set(sequence(oid(OID.commonName), utf8String(commonName))),
  );
}

function extension(id, critical, value) {
  return critical ? sequence(oid(id), booleanTrue(), octetString(value)) : sequence(oid(id), octetString(value));
}

/** KeyUsage bits as a DER BIT STRING (named bits: trailing zero bits are dropped). */
function keyUsageBits(bits) {
  // bit 0 is the most significant bit of the first byte
  let value = 0;
  for (const bit of bits) value |= 0x80 >> bit;
  let unused = 0;
  while (unused < 7 && (value & (1 << unused)) === 0) unused++;
  return bitString(Buffer.from([value]), unused);
}
const KU = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 };

function subjectKeyId(publicKey) {
  // RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. Any stable hash works;
  // SHA-1 of the whole SPKI is close enough for an identifier.
  return crypto.createHash('sha1').update(publicKey.export({ type: 'spki', format: 'der' })).digest();
}

function signatureAlgorithm(privateKey) {
  const type = privateKey.asymmetricKeyType;
  if (type === 'ec') return sequence(oid(OID.ecdsaWithSha256));
  if (type === 'rsa') return sequence(oid(OID.sha256WithRsa), nullValue());
  throw new Error(`unsupported signing key type ${type}`);
}

function sanEntries(hosts) {
  const entries = [];
  for (const host of hosts) {
    const bare = host.replace(/^\[|\]$/g, '');
    const family = net.isIP(bare);
    if (family === 4) {
      entries.push(tlv(0x87, Buffer.from(bare.split('.').map(Number))));
    } else if (family === 6) {
      entries.push(tlv(0x87, ipv6Bytes(bare)));
    } else {
      entries.push(tlv(0x82, Buffer.from(host, 'ascii')));
    }
  }
  return sequence(...entries);
}

function ipv6Bytes(address) {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const headParts = head ? head.split(':') : [];
  const tailParts = tail ? tail.split(':') : [];
  const missing = 8 - headParts.length - tailParts.length;
  const groups = [...headParts, ...(tail !== undefined ? Array(missing).fill('0') : []), ...tailParts];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

/**
 * Builds and signs one certificate.
 * @param {object} o
 * @param {string} o.subject common name
 * @param {crypto.KeyObject} o.publicKey subject public key
 * @param {string} o.issuer issuer common name
 * @param {crypto.KeyObject} o.issuerKey issuer private key
 * @param {crypto.KeyObject} o.issuerPublicKey issuer public key (authority key id)
 * @param {Date} o.notBefore
 * @param {Date} o.notAfter
 * @param {boolean} o.ca
 * @param {string[]} [o.hosts]
 * @param {string[]} [o.extKeyUsage]
 */
function buildCertificate(o) {
  const extensions = [];
  if (o.ca) {
    extensions.push(extension(OID.basicConstraints, true, sequence(booleanTrue(), integer(Buffer.from([0])))));
    extensions.push(extension(OID.keyUsage, true, keyUsageBits([KU.digitalSignature, KU.keyCertSign, KU.cRLSign])));
  } else {
    extensions.push(extension(OID.basicConstraints, true, sequence()));
    const bits = o.publicKey.asymmetricKeyType === 'rsa' ? [KU.digitalSignature, KU.keyEncipherment] : [KU.digitalSignature];
    extensions.push(extension(OID.keyUsage, true, keyUsageBits(bits)));
    if (o.extKeyUsage && o.extKeyUsage.length > 0) {
      extensions.push(extension(OID.extKeyUsage, false, sequence(...o.extKeyUsage.map((u) => oid(u)))));
    }
    if (o.hosts && o.hosts.length > 0) extensions.push(extension(OID.subjectAltName, false, sanEntries(o.hosts)));
  }
  extensions.push(extension(OID.subjectKeyIdentifier, false, octetString(subjectKeyId(o.publicKey))));
  extensions.push(extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, subjectKeyId(o.issuerPublicKey)))));

  const serial = crypto.randomBytes(16);
  serial[0] &= 0x7f; // positive
  const algorithm = signatureAlgorithm(o.issuerKey);
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name(o.issuer),
    sequence(time(o.notBefore), time(o.notAfter)),
    name(o.subject),
    o.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, sequence(...extensions)),
  );
  const signature = crypto.sign('sha256', tbs, o.issuerKey); // ECDSA: DER-encoded (r, s), as X.509 wants
  const der = sequence(tbs, algorithm, bitString(signature));
  return toPem(der, 'CERTIFICATE');
}

function toPem(der, label) {
  const body = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

function generateKey(keyType) {
  if (keyType === 'rsa') return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

// ---------------------------------------------------------------------------------------------
// The CA
// ---------------------------------------------------------------------------------------------

const CA_NAME = 'Local Test CA (entra-bff-functions emulators)';

function createCa() {
  const { publicKey, privateKey } = generateKey('ec');
  const now = Date.now();
  const certPem = buildCertificate({
    subject: CA_NAME,
    issuer: CA_NAME,
    publicKey,
    issuerKey: privateKey,
    issuerPublicKey: publicKey,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + CA_VALID_DAYS * DAY_MS),
    ca: true,
  });
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) };
}

/** The CA in `dir` if it is present, consistent and valid for a while yet; otherwise undefined. */
function readUsableCa(certPath, keyPath) {
  try {
    const certPem = fs.readFileSync(certPath, 'utf8');
    const keyPem = fs.readFileSync(keyPath, 'utf8');
    const cert = new crypto.X509Certificate(certPem);
    const key = crypto.createPrivateKey(keyPem);
    if (!cert.ca || !cert.checkPrivateKey(key)) return undefined;
    if (Date.parse(cert.validTo) - Date.now() < CA_RENEW_BEFORE_DAYS * DAY_MS) return undefined;
    return { certPem, keyPem };
  } catch {
    return undefined;
  }
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Creates the test CA in `dir` once, and reuses it afterwards. Safe when several processes call it
 * at the same time (a lock file serializes creation; files are written atomically by rename).
 * @param {string} [dir]
 * @returns {{ certPem: string, keyPem: string, certPath: string, keyPath: string }}
 */
function ensureTestCa(dir = DEFAULT_DIR) {
  const absDir = path.resolve(dir);
  const certPath = path.join(absDir, 'ca.pem');
  const keyPath = path.join(absDir, 'ca-key.pem');
  const existing = readUsableCa(certPath, keyPath);
  if (existing) return { ...existing, certPath, keyPath };

  fs.mkdirSync(absDir, { recursive: true, mode: 0o700 });
  const lockPath = path.join(absDir, '.ca.lock');
  const deadline = Date.now() + 15_000;
  let lock;
  for (;;) {
    try {
      lock = fs.openSync(lockPath, 'wx');
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      const again = readUsableCa(certPath, keyPath);
      if (again) return { ...again, certPath, keyPath };
      try {
        // a lock left by a process that died
        if (Date.now() - fs.statSync(lockPath).mtimeMs > 10_000) fs.rmSync(lockPath, { force: true });
      } catch {
        /* gone already */
      }
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${lockPath}; delete it if no other process is creating the test CA.`);
      sleepSync(50);
    }
  }
  try {
    const again = readUsableCa(certPath, keyPath);
    if (again) return { ...again, certPath, keyPath };
    const created = createCa();
    const suffix = `${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    fs.writeFileSync(`${keyPath}.${suffix}`, created.keyPem, { mode: 0o600 });
    fs.writeFileSync(`${certPath}.${suffix}`, created.certPem, { mode: 0o644 });
    fs.renameSync(`${keyPath}.${suffix}`, keyPath);
    fs.renameSync(`${certPath}.${suffix}`, certPath);
    return { ...created, certPath, keyPath };
  } finally {
    fs.closeSync(lock);
    fs.rmSync(lockPath, { force: true });
  }
}

/**
 * Issues a leaf certificate signed by `ca`.
 * @param {{ certPem: string, keyPem: string }} ca
 * @param {object} [options]
 * @param {string[]} [options.hosts] DNS names and IP addresses for the subjectAltName
 * @param {number} [options.days] validity, days (default 7)
 * @param {'ec'|'rsa'} [options.keyType] default 'ec'
 * @param {'server'|'client'|'both'} [options.usage] extended key usage (default 'server')
 * @param {string} [options.commonName]
 * @returns {{ cert: string, key: string }}
 */
function issueCertificate(ca, options = {}) {
  const hosts = options.hosts ?? ['127.0.0.1', 'localhost'];
  const days = options.days ?? 7;
  const usage = options.usage ?? 'server';
  const caCert = new crypto.X509Certificate(ca.certPem);
  const caKey = crypto.createPrivateKey(ca.keyPem);
  const { publicKey, privateKey } = generateKey(options.keyType ?? 'ec');
  const now = Date.now();
  const notAfter = Math.min(now + days * DAY_MS, Date.parse(caCert.validTo));
  const eku = usage === 'server' ? [OID.serverAuth] : usage === 'client' ? [OID.clientAuth] : [OID.serverAuth, OID.clientAuth];
  const cert = buildCertificate({
    subject: options.commonName ?? hosts[0] ?? 'localhost',
    issuer: CA_NAME,
    publicKey,
    issuerKey: caKey,
    issuerPublicKey: caCert.publicKey,
    notBefore: new Date(now - 60 * 60 * 1000),
    notAfter: new Date(notAfter),
    ca: false,
    hosts: usage === 'client' && !options.hosts ? [] : hosts,
    extKeyUsage: eku,
  });
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) };
}

/** A server certificate for the given hosts (default 127.0.0.1 and localhost), EKU serverAuth, 7 days. */
function issueServerCertificate(ca, hosts = ['127.0.0.1', 'localhost'], days = 7) {
  return issueCertificate(ca, { hosts, days, usage: 'server' });
}

module.exports = { ensureTestCa, issueCertificate, issueServerCertificate, DEFAULT_DIR, CA_NAME };

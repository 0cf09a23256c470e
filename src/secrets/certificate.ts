/**
 * A client certificate as Key Vault hands it out: the secret behind a Key Vault certificate holds
 * the private key and the certificate chain, as PEM when the certificate's policy says
 * `application/x-pem-file` (PKCS#12 is not read: Node has no PKCS#12 parser, and PEM is a policy
 * setting away).
 *
 * msal-node signs the client assertion with the key (PS256, so RSA only) and names the certificate
 * by `x5t#S256`: the SHA-256 of the DER certificate, hex. `x5c` carries the chain, leaf first, which
 * subject-name/issuer (SNI) authentication needs and which does no harm otherwise.
 *
 * No error here quotes the PEM: only what is wrong with it.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { UnusableSecretError, type SecretText } from './cached-secret';

export interface ClientCertificate {
  /** Hex SHA-256 of the DER certificate (lower case). */
  readonly thumbprintSha256: string;
  /** PKCS#8 PEM. */
  readonly privateKey: string;
  /** PEM certificates, leaf first. */
  readonly x5c: string;
  /** The leaf's subject and expiry, for diagnostics (not secret). */
  readonly subject: string;
  readonly notAfter: Date;
}

export const PEM_CONTENT_TYPE = 'application/x-pem-file';
export const PKCS12_CONTENT_TYPE = 'application/x-pkcs12';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)\r?\n?-----END \1-----/g;
const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY']);

/** Hex SHA-256 of a certificate's DER encoding: msal-node's `thumbprintSha256`. */
export function certificateThumbprintSha256(certificate: X509Certificate | string): string {
  const cert = typeof certificate === 'string' ? new X509Certificate(certificate) : certificate;
  return createHash('sha256').update(cert.raw).digest('hex');
}

/** Reads the PEM text of a Key Vault certificate's secret. Throws UnusableSecretError. */
export function parseClientCertificate(secret: Pick<SecretText, 'value' | 'contentType' | 'now'>): ClientCertificate {
  const contentType = secret.contentType?.toLowerCase();
  if (contentType === PKCS12_CONTENT_TYPE || (contentType !== PEM_CONTENT_TYPE && !secret.value.includes('-----BEGIN '))) {
    throw new UnusableSecretError(
      `is not PEM${contentType ? ` (content type ${contentType})` : ''}: create the certificate with content type ${PEM_CONTENT_TYPE} ` +
        '(the certificate policy\'s secretProperties.contentType), or import a PEM file holding the private key and the certificate.',
    );
  }

  const keys: KeyObject[] = [];
  const certificates: X509Certificate[] = [];
  for (const match of secret.value.matchAll(PEM_BLOCK)) {
    const label = match[1] ?? '';
    const block = match[0];
    if (label === 'CERTIFICATE') {
      try {
        certificates.push(new X509Certificate(block));
      } catch (error) {
        throw new UnusableSecretError(`holds a certificate (number ${certificates.length + 1}) that cannot be parsed.`, { cause: error });
      }
    } else if (label === 'ENCRYPTED PRIVATE KEY') {
      throw new UnusableSecretError('holds an encrypted private key: store the key unencrypted (Key Vault protects it).');
    } else if (KEY_LABELS.has(label) || label.endsWith(' PRIVATE KEY')) {
      try {
        keys.push(createPrivateKey({ key: block, format: 'pem' }));
      } catch (error) {
        throw new UnusableSecretError('holds a private key that cannot be parsed.', { cause: error });
      }
    }
  }
  if (keys.length !== 1) {
    throw new UnusableSecretError(
      keys.length === 0
        ? 'has no private key: store the certificate together with its private key (Key Vault does this for certificates it manages or imports with the key).'
        : `has ${keys.length} private keys: store exactly one, with its certificate.`,
    );
  }
  const key = keys[0]!;
  if (key.asymmetricKeyType !== 'rsa') {
    throw new UnusableSecretError(`has a key of type ${key.asymmetricKeyType ?? 'unknown'}: Entra client certificates need an RSA key (msal-node signs with PS256).`);
  }
  if (certificates.length === 0) throw new UnusableSecretError('has no certificate: store the certificate together with its private key.');
  const leafIndex = certificates.findIndex((cert) => cert.checkPrivateKey(key));
  if (leafIndex < 0) throw new UnusableSecretError('has no certificate that matches its private key.');
  const leaf = certificates[leafIndex]!;
  const notAfter = new Date(leaf.validTo);
  if (Number.isFinite(notAfter.getTime()) && notAfter.getTime() <= secret.now) {
    throw new UnusableSecretError(
      `holds a certificate that expired on ${notAfter.toISOString()}: add a renewed version to the vault and upload its public part to the app registration.`,
    );
  }
  const chain = [leaf, ...certificates.filter((_, i) => i !== leafIndex)];
  return {
    thumbprintSha256: certificateThumbprintSha256(leaf),
    privateKey: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    x5c: chain.map((cert) => ensureNewline(cert.toString())).join(''),
    subject: leaf.subject,
    notAfter,
  };
}

function ensureNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

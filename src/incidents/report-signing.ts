import canonicalize from 'canonicalize';
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { JsonValue } from './common.js';

/**
 * Ed25519 signatures over exported incident reports, so a regulator (or anyone given the
 * export) can check that findguard produced it and nobody changed it since. The signed bytes are
 * the report's RFC 8785 canonical JSON: whoever re-serialises the JSON still verifies it.
 * node:crypto does Ed25519 natively; the key comes from a 32-byte seed (config: the
 * FINDGUARD_REPORT_SIGNING_KEY variable, or derived from the hash keys), so every node signs with
 * the same key without a key file to copy around.
 */

export interface PublishedKey {
  alg: 'Ed25519';
  /** First 16 bytes of the SHA-256 of the raw public key, base64url: names the key in a signature. */
  keyId: string;
  jwk: { kty: 'OKP'; crv: 'Ed25519'; x: string };
  /** SPKI PEM, for openssl and most libraries. */
  pem: string;
}

export interface SignedReport<T extends JsonValue = JsonValue> {
  report: T;
  signature: { alg: 'Ed25519'; keyId: string; value: string };
}

// DER prefix of a PKCS#8 Ed25519 private key (RFC 8410), followed by the 32-byte seed.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export class ReportSigner {
  private readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly published: PublishedKey;

  constructor(seed: Buffer) {
    if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
    this.privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    this.publicKey = createPublicKey(this.privateKey);
    this.published = publishedKey(this.publicKey);
  }

  sign<T extends JsonValue>(report: T): SignedReport<T> {
    const value = sign(null, Buffer.from(canonicalBytes(report)), this.privateKey).toString('base64url');
    return { report, signature: { alg: 'Ed25519', keyId: this.published.keyId, value } };
  }
}

export function publishedKey(publicKey: KeyObject): PublishedKey {
  const jwk = publicKey.export({ format: 'jwk' }) as { x?: string };
  if (!jwk.x) throw new Error('not an Ed25519 public key');
  return {
    alg: 'Ed25519',
    keyId: keyIdOf(jwk.x),
    jwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x },
    pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

function keyIdOf(x: string): string {
  return createHash('sha256').update(Buffer.from(x, 'base64url')).digest().subarray(0, 16).toString('base64url');
}

/**
 * Checks a signed export against a published key (its JWK `x` or PEM). False for any change to
 * the report, the signature or a key id that is not this key's; never throws on bad input.
 */
export function verifySignedReport(signed: unknown, key: { x: string } | string): boolean {
  try {
    if (!signed || typeof signed !== 'object') return false;
    const s = signed as Partial<SignedReport>;
    if (!s.signature || s.signature.alg !== 'Ed25519' || typeof s.signature.value !== 'string' || s.report === undefined) return false;
    const publicKey =
      typeof key === 'string' ? createPublicKey(key) : createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.x }, format: 'jwk' });
    if (publishedKey(publicKey).keyId !== s.signature.keyId) return false;
    return verify(null, Buffer.from(canonicalBytes(s.report)), publicKey, Buffer.from(s.signature.value, 'base64url'));
  } catch {
    return false;
  }
}

function canonicalBytes(value: JsonValue): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error('the report is not JSON');
  return text;
}

import { hkdfSync } from 'node:crypto';

/**
 * A 32-byte key for one purpose, derived (HKDF-SHA256, salt "findguard") from a deployment key: the
 * hash keys every node already shares seal TOTP secrets, sign reports, encrypt cookies and key
 * hashes of names, each under its own purpose string, so no use can stand in for another.
 */
export function deriveKey(key: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, 'findguard', purpose, 32));
}

/**
 * The oldest of the hash keys (listed newest first): what a key that must stay the same across a
 * rotation is derived from, since a rotation adds a newer key and leaves this one in place.
 */
export function oldestHashKey(hashKeys: ReadonlyArray<{ key: Buffer }>): Buffer {
  const oldest = hashKeys[hashKeys.length - 1];
  if (!oldest) throw new Error('no hash key configured');
  return oldest.key;
}

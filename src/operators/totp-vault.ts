import { createCipheriv, createDecipheriv } from 'node:crypto';
import { deriveKey } from '../util/derive-key.js';
import type { Random } from '../util/random.js';

/** A versioned key findguard already holds (the hash keys, newest first). */
export interface VaultKey {
  version: number;
  key: Buffer;
}

/**
 * TOTP secrets must be read back to check codes, so they cannot be hashed: they are sealed with
 * AES-256-GCM under a key derived (HKDF) from a hash key, which lives in the environment or the
 * data folder, never in the database. A copy of the operators table alone then yields neither
 * passwords (scrypt) nor second factors. Stored as `k<version>:<iv|tag|ciphertext>`, so a
 * rotation of the hash keys keeps opening old seals and `needsReseal` tells the caller to move
 * one to the newest key.
 */
export class TotpVault {
  private readonly keys: Map<number, Buffer>;
  private readonly newest: number;

  constructor(
    keys: readonly VaultKey[],
    private readonly random: Random,
  ) {
    if (keys.length === 0) throw new Error('TotpVault needs a key');
    this.keys = new Map(keys.map((k) => [k.version, deriveKey(k.key, 'operator totp secrets')]));
    this.newest = keys[0]!.version;
  }

  seal(secret: string): string {
    const iv = this.random.bytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.newest)!, iv);
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return `k${this.newest}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** The secret; null when sealed under a key no longer held, or damaged. */
  open(stored: string): string | null {
    const m = /^k(\d+):([A-Za-z0-9_-]+)$/.exec(stored);
    if (!m) return null;
    const key = this.keys.get(Number(m[1]));
    const raw = Buffer.from(m[2]!, 'base64url');
    if (!key || raw.length < 29) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      return null;
    }
  }

  needsReseal(stored: string): boolean {
    return !stored.startsWith(`k${this.newest}:`);
  }
}

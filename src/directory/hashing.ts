import { createHmac } from 'node:crypto';
import type { HashKey } from '../config/config.js';

export type ContactKind = 'phone' | 'email';

export interface VersionedHash {
  version: number;
  hash: Buffer;
}

/**
 * Keyed hashes of normalised contact values. Phone numbers are a small space (every mobile
 * number can be precomputed), so a plain hash would be as good as plaintext; only a secret key
 * makes the stored value useless without the service.
 */
export class ContactHasher {
  private readonly prefixes: Record<ContactKind, string> = { phone: 'phone:', email: 'email:' };
  constructor(private readonly keys: readonly HashKey[]) {
    if (keys.length === 0) throw new Error('at least one hash key is required');
  }

  get currentVersion(): number {
    return this.keys[0]!.version;
  }

  get versions(): number[] {
    return this.keys.map((k) => k.version);
  }

  /** The hash under the newest key: what new writes store. */
  current(kind: ContactKind, value: string): VersionedHash {
    const k = this.keys[0]!;
    return { version: k.version, hash: this.mac(k.key, kind, value) };
  }

  /** Hashes under every configured key, newest first: what reads try while a rotation is under way. */
  all(kind: ContactKind, value: string): VersionedHash[] {
    return this.keys.map((k) => ({ version: k.version, hash: this.mac(k.key, kind, value) }));
  }

  private mac(key: Buffer, kind: ContactKind, value: string): Buffer {
    return createHmac('sha256', key).update(this.prefixes[kind]).update(value).digest();
  }
}

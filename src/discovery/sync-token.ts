import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { HashKey } from '../config/config.js';
import type { ContactKind } from '../directory/hashing.js';
import type { Random } from '../util/random.js';

const VERSION = 1;
const ENTROPY = 16;
const MAC = 32;
const LENGTH = 1 + 4 + ENTROPY + MAC;

export interface VerifiedToken {
  issuedAt: number;
}

/**
 * The sync token (after Signal's CDSI): proof that this account already synced exactly this set
 * of values, so only values outside it cost budget, while the server keeps no address book.
 * Token = version || issued-at (s) || entropy || HMAC(key, version || issued-at || entropy ||
 * account || kind || sorted unique values as the client sent them).
 * The MAC keys derive from the hash keys, so every node that can hash can verify, and a key
 * rotation keeps old tokens valid while the old key is still configured.
 */
export class SyncTokens {
  private readonly keys: Buffer[];
  constructor(
    hashKeys: readonly HashKey[],
    private readonly random: Random,
  ) {
    this.keys = hashKeys.map((k) => Buffer.from(hkdfSync('sha256', k.key, Buffer.alloc(0), 'findguard sync token v1', 32)));
  }

  issue(accountId: string, kind: ContactKind, values: Iterable<string>, now: number): string {
    const head = Buffer.alloc(1 + 4 + ENTROPY);
    head.writeUInt8(VERSION, 0);
    head.writeUInt32BE(Math.floor(now / 1000), 1);
    this.random.bytes(ENTROPY).copy(head, 5);
    const mac = this.macCanonical(this.keys[0]!, head, accountId, kind, canonicalSet(values));
    return Buffer.concat([head, mac]).toString('base64url');
  }

  /** undefined when the token is malformed, forged, for another account or kind, or for another set. */
  verify(token: string, accountId: string, kind: ContactKind, values: Iterable<string>): VerifiedToken | undefined {
    if (token.length > 128) return undefined;
    const raw = Buffer.from(token, 'base64url');
    if (raw.length !== LENGTH || raw.readUInt8(0) !== VERSION) return undefined;
    const head = raw.subarray(0, 1 + 4 + ENTROPY);
    const given = raw.subarray(1 + 4 + ENTROPY);
    const canonical = canonicalSet(values);
    for (const key of this.keys) {
      const expected = this.macCanonical(key, head, accountId, kind, canonical);
      if (timingSafeEqual(expected, given)) return { issuedAt: raw.readUInt32BE(1) * 1000 };
    }
    return undefined;
  }

  private macCanonical(key: Buffer, head: Buffer, accountId: string, kind: ContactKind, canonical: string): Buffer {
    // JSON gives an unambiguous encoding of strings that may contain any character.
    return createHmac('sha256', key).update(head).update(JSON.stringify([accountId, kind])).update(canonical).digest();
  }
}

function canonicalSet(values: Iterable<string>): string {
  const unique = [...new Set(values)];
  unique.sort();
  return JSON.stringify(unique);
}

import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { HashKey } from '../config/config.js';
import type { ContactKind } from '../directory/hashing.js';
import type { AccountRef } from './store.js';
import type { Random } from '../util/random.js';

/**
 * Version 1 bound the raw strings without the region they were read under, version 2 the account
 * id without its incarnation: neither is accepted again (a client whose token is refused syncs in
 * full once, as after a reinstall).
 */
const VERSION = 3;
const REGION = 2;
const ENTROPY = 16;
const MAC = 32;
const HEAD = 1 + 4 + REGION + ENTROPY;
const LENGTH = HEAD + MAC;
/** A token from a node whose clock runs ahead is still good; one from further ahead is forged or broken. */
const FUTURE_SKEW_MS = 5 * 60_000;

/**
 * Whom a token is for: the account id and when findguard first mirrored this account
 * (accounts.mirrored_at, kept through every later write). An id the app erases and mirrors again is
 * another account: what the first one paid for is not the second one's.
 */
export type TokenHolder = AccountRef;

export interface VerifiedToken {
  issuedAt: number;
  /** The default region the covered strings were read under ('' for none): what they were charged as. */
  region: string;
}

/**
 * The sync token (after Signal's CDSI): proof that this account already synced, and paid for,
 * this set of strings read under this default region, so only values outside it cost budget,
 * while the server keeps no address book.
 *
 * Token = version || issued-at (s) || region || entropy || HMAC(key, all of that || account id
 * || when it was first mirrored || kind || sorted unique strings as the client sent them). The region is part of what the token
 * proves: "07400 550003" is one number under GB, another under US and none without a region, and
 * only the reading it was charged under is covered. The MAC keys derive from the hash keys, so
 * every node that can hash can verify, and a key rotation keeps old tokens valid while the old
 * key is still configured.
 */
export class SyncTokens {
  private readonly keys: Buffer[];
  constructor(
    hashKeys: readonly HashKey[],
    private readonly random: Random,
  ) {
    this.keys = hashKeys.map((k) => Buffer.from(hkdfSync('sha256', k.key, Buffer.alloc(0), 'findguard sync token v1', 32)));
  }

  issue(holder: TokenHolder, kind: ContactKind, region: string | undefined, values: Iterable<string>, now: number): string {
    const head = Buffer.alloc(HEAD);
    head.writeUInt8(VERSION, 0);
    head.writeUInt32BE(Math.floor(now / 1000), 1);
    head.write(region ?? '', 5, REGION, 'latin1');
    this.random.bytes(ENTROPY).copy(head, 5 + REGION);
    const mac = this.macCanonical(this.keys[0]!, head, holder, kind, canonicalSet(values));
    return Buffer.concat([head, mac]).toString('base64url');
  }

  /**
   * undefined when the token is malformed or not in its one canonical encoding, forged, for another
   * account (or an earlier account under the same id), kind or set, older than `lifetimeMs`, or
   * issued in the future: all answered alike.
   */
  verify(token: string, holder: TokenHolder, kind: ContactKind, values: Iterable<string>, now: number, lifetimeMs: number): VerifiedToken | undefined {
    if (token.length > 128) return undefined;
    const raw = Buffer.from(token, 'base64url');
    // Node's decoder skips what is not base64url and ignores trailing bits: one token, one spelling.
    if (raw.length !== LENGTH || raw.toString('base64url') !== token || raw.readUInt8(0) !== VERSION) return undefined;
    const issuedAt = raw.readUInt32BE(1) * 1000;
    if (now - issuedAt > lifetimeMs || issuedAt - now > FUTURE_SKEW_MS) return undefined;
    const region = raw.toString('latin1', 5, 5 + REGION).replace(/\0+$/, '');
    if (region !== '' && !/^[A-Z]{2}$/.test(region)) return undefined;
    const head = raw.subarray(0, HEAD);
    const given = raw.subarray(HEAD);
    const canonical = canonicalSet(values);
    for (const key of this.keys) {
      const expected = this.macCanonical(key, head, holder, kind, canonical);
      if (timingSafeEqual(expected, given)) return { issuedAt, region };
    }
    return undefined;
  }

  private macCanonical(key: Buffer, head: Buffer, holder: TokenHolder, kind: ContactKind, canonical: string): Buffer {
    // JSON gives an unambiguous encoding of strings that may contain any character.
    return createHmac('sha256', key).update(head).update(JSON.stringify([holder.accountId, holder.mirroredAt, kind])).update(canonical).digest();
  }
}

function canonicalSet(values: Iterable<string>): string {
  const unique = [...new Set(values)];
  unique.sort();
  return JSON.stringify(unique);
}

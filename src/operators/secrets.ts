import { createHash, timingSafeEqual } from 'node:crypto';
import type { Random } from '../util/random.js';

/** 256 random bits, base64url: session and API token secrets. */
export function newSecret(random: Random): string {
  return random.bytes(32).toString('base64url');
}

/**
 * Session and token secrets are stored as SHA-256: they are 256 random bits, so a fast hash is
 * enough (nothing to brute-force), and a copy of the table cannot sign anyone in.
 */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(secretHash(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

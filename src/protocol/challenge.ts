import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The proof-of-work challenge's format, shared by the client (which solves it: src/client) and the
 * server (which issues and verifies it: src/limits), so both sides read it from one definition.
 *
 * A `428 challenge_required` answer carries `error.details.challenge`:
 *   { id, algorithm: 'sha256-leading-zero-bits', difficulty, prefix (base64url), expiresAt (ISO) }
 * The client finds a nonce such that SHA-256(prefix bytes || nonce as a UTF-8 decimal string)
 * starts with at least `difficulty` zero bits, and repeats the same request with
 * `X-Findguard-Proof: <id>.<nonce>`. Expected work is 2^difficulty hashes.
 */

export const CHALLENGE_ALGORITHM = 'sha256-leading-zero-bits';
export const PROOF_HEADER = 'X-Findguard-Proof';
/** Past 2^28 expected hashes (minutes of CPU) the client refuses: a server asking that is broken or hostile. */
export const MAX_CLIENT_DIFFICULTY = 28;
/** 256 bits is the whole digest; anything above can never be met. */
const MAX_DIFFICULTY = 256;
// Canonical decimal only (no sign, no leading zeros), bounded: one proof per nonce value, and
// the verifier never hashes an attacker-sized string.
const NONCE_PATTERN = /^(0|[1-9][0-9]{0,19})$/;

export interface Challenge {
  id: string;
  algorithm: typeof CHALLENGE_ALGORITHM;
  difficulty: number;
  /** base64url of the random bytes the hash starts with. */
  prefix: string;
  /** ISO 8601 time after which the server no longer accepts a proof. */
  expiresAt: string;
}

export interface Solution {
  nonce: string;
  /** Hashes computed to find the nonce: the work the caller paid. */
  hashes: number;
}

/** Reads a challenge from `error.details` of a 428 answer (or the challenge itself); undefined when malformed. */
export function parseChallenge(details: unknown): Challenge | undefined {
  const c = isRecord(details) && isRecord(details.challenge) ? details.challenge : details;
  if (!isRecord(c)) return undefined;
  const { id, algorithm, difficulty, prefix, expiresAt } = c;
  if (typeof id !== 'string' || id.length === 0 || id.length > 256 || /[^\x21-\x7e]/.test(id)) return undefined;
  if (algorithm !== CHALLENGE_ALGORITHM) return undefined;
  if (typeof difficulty !== 'number' || !Number.isInteger(difficulty) || difficulty < 0 || difficulty > MAX_DIFFICULTY) return undefined;
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9_-]*$/.test(prefix)) return undefined;
  if (typeof expiresAt !== 'string' || Number.isNaN(Date.parse(expiresAt))) return undefined;
  return { id, algorithm, difficulty, prefix, expiresAt };
}

/** Number of leading zero bits of a digest. */
export function leadingZeroBits(digest: Uint8Array): number {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

/** True when the digest starts with at least `difficulty` zero bits; stops at the first deciding byte. */
export function meets(digest: Uint8Array, difficulty: number): boolean {
  const full = difficulty >> 3;
  for (let i = 0; i < full; i++) if (digest[i] !== 0) return false;
  const rest = difficulty & 7;
  return rest === 0 || (digest[full]! >> (8 - rest)) === 0;
}

export function proofDigest(prefix: string, nonce: string): Buffer {
  return createHash('sha256').update(Buffer.from(prefix, 'base64url')).update(nonce, 'utf8').digest();
}

export function formatProof(id: string, nonce: string): string {
  return `${id}.${nonce}`;
}

/** Splits an `X-Findguard-Proof` value at its last dot (ids may contain dots, nonces cannot). */
export function parseProof(header: string | undefined): { id: string; nonce: string } | undefined {
  if (typeof header !== 'string' || header.length > 300) return undefined;
  const dot = header.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const id = header.slice(0, dot);
  const nonce = header.slice(dot + 1);
  return NONCE_PATTERN.test(nonce) ? { id, nonce } : undefined;
}

/**
 * Server side: does `proof` (the header value) solve `challenge`? Pass `now` (ms) to refuse
 * expired challenges too. The server must still make each challenge id single-use and bind it
 * to the caller; this only checks the arithmetic.
 */
export function verifyProof(challenge: Challenge, proof: string | undefined, now?: number): boolean {
  const parsed = parseProof(proof);
  if (!parsed || challenge.algorithm !== CHALLENGE_ALGORITHM) return false;
  const a = Buffer.from(parsed.id);
  const b = Buffer.from(challenge.id);
  // Constant time, though ids are not secret: it costs nothing and removes the question.
  if (a.length !== b.length || !timingSafeEqual(a, b)) return false;
  if (now !== undefined && !(now <= Date.parse(challenge.expiresAt))) return false;
  if (!Number.isInteger(challenge.difficulty) || challenge.difficulty < 0 || challenge.difficulty > MAX_DIFFICULTY) return false;
  return meets(proofDigest(challenge.prefix, parsed.nonce), challenge.difficulty);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

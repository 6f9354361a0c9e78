import { scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Random } from '../util/random.js';

/**
 * scrypt parameters. Why scrypt from node:crypto and not argon2: it is memory-hard, it ships with
 * Node (no native package to build or trust), and OWASP lists it as acceptable where Argon2id is
 * not at hand. The default is OWASP's recommended N=2^17, r=8, p=1: 128 MiB and ~0.5 s of one
 * core per hash on this class of machine, which also bounds what a guessing attacker gets
 * through the sign-in throttle. Every hash records its own parameters, so raising them later
 * still verifies old hashes (and tests may hash with cheaper ones).
 */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };
const KEY_LENGTH = 32;
const SALT_BYTES = 16;

/**
 * Each derivation holds 128 MiB while it runs: fifty sign-in attempts at once would hold 6 GiB.
 * At most RUNNING run at a time and QUEUED wait; past that a sign-in is refused as unavailable
 * (503, retry shortly) instead of the process running out of memory. Hand-written: a counter and
 * a queue, where a general-purpose limiter would add a dependency for ten lines.
 */
const RUNNING = 2;
const QUEUED = 64;
let running = 0;
const waiting: Array<() => void> = [];

export class PasswordCheckBusy extends Error {
  constructor() {
    super('too many password checks at once');
  }
}

async function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  if (running >= RUNNING) {
    if (waiting.length >= QUEUED) throw new PasswordCheckBusy();
    await new Promise<void>((resolve) => waiting.push(resolve));
  } else running++;
  try {
    // maxmem must exceed 128 * N * r bytes, or Node refuses the larger parameter sets.
    const options: ScryptOptions = { ...params, maxmem: 128 * params.N * params.r + 16 * 1024 * 1024 };
    return await new Promise((resolve, reject) => scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key))));
  } finally {
    // The slot passes straight to the next in line, or frees.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

/** `scrypt$N$r$p$salt$hash` (base64url). */
export async function hashPassword(password: string, random: Random, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = random.bytes(SALT_BYTES);
  const key = await derive(password, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Whether password matches the stored hash; false for anything malformed. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (!N || !r || !p || N > 2 ** 20 || r > 32 || p > 16) return false;
  const expected = Buffer.from(parts[5]!, 'base64url');
  const key = await derive(password, Buffer.from(parts[4]!, 'base64url'), { N, r, p });
  return expected.length === key.length && timingSafeEqual(expected, key);
}

/** A generated password: 20 random bytes in base64url (160 bits), for `operators add`. */
export function generatePassword(random: Random): string {
  return random.bytes(20).toString('base64url');
}

import { createHash } from 'node:crypto';
import { meets, type Challenge, type Solution } from '../protocol/challenge.js';

export {
  CHALLENGE_ALGORITHM,
  formatProof,
  leadingZeroBits,
  MAX_CLIENT_DIFFICULTY,
  parseChallenge,
  parseProof,
  PROOF_HEADER,
  proofDigest,
  verifyProof,
  type Challenge,
  type Solution,
} from '../protocol/challenge.js';

export interface SolveOptions {
  /** Give up beyond this many hashes (default 2^(difficulty + 6), i.e. ~1 in 10^28 bad luck). */
  maxHashes?: number;
  /** Hashes between yields to the event loop, so a solve does not freeze a server or a UI. 0 never yields. */
  yieldEvery?: number;
}

export class ChallengeTooHardError extends Error {
  constructor(
    readonly difficulty: number,
    readonly hashes: number,
  ) {
    super(`proof-of-work of difficulty ${difficulty} not solved (${hashes} hashes spent)`);
    this.name = 'ChallengeTooHardError';
  }
}

/**
 * Finds the smallest nonce solving the challenge. The prefix is absorbed once and the
 * hash state copied per nonce, which roughly halves the cost for short prefixes.
 */
export async function solveChallenge(challenge: Challenge, options: SolveOptions = {}): Promise<Solution> {
  const { difficulty } = challenge;
  const maxHashes = options.maxHashes ?? 2 ** Math.min(difficulty + 6, 52);
  const yieldEvery = options.yieldEvery ?? 1 << 16;
  const base = createHash('sha256').update(Buffer.from(challenge.prefix, 'base64url'));
  let hashes = 0;
  for (let nonce = 0; hashes < maxHashes; nonce++) {
    const candidate = String(nonce);
    hashes++;
    if (meets(base.copy().update(candidate, 'utf8').digest(), difficulty)) return { nonce: candidate, hashes };
    if (yieldEvery > 0 && hashes % yieldEvery === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new ChallengeTooHardError(difficulty, hashes);
}

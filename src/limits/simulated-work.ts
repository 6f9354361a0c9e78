import { createHmac, randomBytes } from 'node:crypto';
import type { Challenge, Solution } from '../protocol/index.js';

/**
 * Proof-of-work paid in simulated time, for the attack simulator's in-process findguard ONLY.
 *
 * Every simulated attacker solving every SHA-256 challenge for real made replays stall (issue 18:
 * 95% of a run's CPU in solveChallenge). The simulator instead charges each client the expected
 * hashing time of the challenge at a stated hash rate, on the simulated clock, and adds the work
 * to the attacker's cost. Its "solution" is a keyed tag of the challenge id that only this
 * object can produce and check: one HMAC instead of 2^difficulty hashes.
 *
 * The server checks everything else about the proof as always (the MAC binding the id to the
 * account, difficulty, expiry, single use); only the SHA-256 arithmetic is replaced. It cannot be
 * switched on in a deployment: there is no config or environment setting for it, only this class,
 * which a caller must construct and pass to createContext in code (ContextOverrides
 * .simulatedProofOfWork), and createContext refuses it with the system clock, i.e. anywhere time
 * is real. `simulate --target` runs against a deployment and solves for real.
 */
export class SimulatedProofOfWork {
  /** Random per instance: a tag made by one run's simulator is worthless to any other process. */
  private readonly key = randomBytes(32);

  /** The nonce the simulated client sends for this challenge (a canonical decimal, as the header requires). */
  nonceFor(challenge: Challenge): string {
    const tag = createHmac('sha256', this.key).update(challenge.id).digest();
    // 48 bits as decimal: canonical (no leading zeros beyond "0"), well under the 20-digit limit.
    return String(tag.readUIntBE(0, 6));
  }

  /** Server side: is this the simulated client's nonce for this challenge? */
  accepts(challenge: Challenge, nonce: string): boolean {
    return nonce === this.nonceFor(challenge);
  }

  /** A solution the server accepts, declaring the hashes the simulated client is charged for. */
  solution(challenge: Challenge, hashes: number): Solution {
    return { nonce: this.nonceFor(challenge), hashes };
  }
}

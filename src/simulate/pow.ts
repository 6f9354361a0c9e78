import type { Challenge, Solution } from '../client/index.js';
import { SimulatedProofOfWork } from '../limits/index.js';
import { mix } from './hash.js';

/**
 * SHA-256 hashes per second of one simulated device unless a scenario says otherwise: node:crypto
 * on this project's 2-core VM, one core, the client's own solver loop (hash-state copy + digest
 * per nonce) measured 245,000-353,000/s while other work shared the machine; a phone's JS solver
 * is no faster. bench/efficacy.ts prints this machine's figure next to it.
 */
export const SIMULATED_HASH_RATE = 300_000;

/**
 * What proof-of-work cost each simulated account, and the simulated time it still owes: the
 * in-process client "solves" a challenge at once with SimulatedProofOfWork's tag, and is charged
 * a draw of the hashes a real solver would need (geometric, mean 2^difficulty, from the
 * challenge's prefix so replays agree) and their time at the account's hash rate. The actor adds the
 * owed time before its next action (takeDelay): the answer comes at the request's instant, the
 * account's following request that much later.
 */
export class WorkLedger {
  private readonly hashes = new Map<string, number>();
  private readonly owed = new Map<string, number>();

  /** null: against a deployment, where clients solve for real and the work is what they spent. */
  constructor(readonly simulated: SimulatedProofOfWork | null) {}

  /** The solver a client of this account gets; undefined means the client's real SHA-256 solver. */
  solverFor(accountId: string, hashRate: number, now: () => number): ((c: Challenge) => Promise<Solution>) | undefined {
    const sim = this.simulated;
    if (!sim) return undefined;
    return async (challenge) => {
      const hashes = expectedDraw(challenge);
      const ms = (hashes / hashRate) * 1000;
      this.charge(accountId, hashes, ms);
      // A real device would not finish before the challenge expires: its proof comes too late.
      if (now() + ms > Date.parse(challenge.expiresAt)) return { nonce: '0', hashes };
      return sim.solution(challenge, hashes);
    };
  }

  charge(accountId: string, hashes: number, ms: number): void {
    this.hashes.set(accountId, (this.hashes.get(accountId) ?? 0) + hashes);
    this.owed.set(accountId, (this.owed.get(accountId) ?? 0) + ms);
  }

  hashesOf(accountId: string): number {
    return this.hashes.get(accountId) ?? 0;
  }

  /** Simulated milliseconds the account spent hashing since it last asked; resets. */
  takeDelay(accountId: string): number {
    const ms = this.owed.get(accountId) ?? 0;
    if (ms > 0) this.owed.delete(accountId);
    return Math.ceil(ms);
  }
}

/**
 * Hashes until the first success at p = 2^-difficulty (geometric), from the challenge's prefix:
 * the server draws it from its seeded Random, while the id's MAC uses the run's random hash keys.
 */
function expectedDraw(challenge: Challenge): number {
  let h = challenge.difficulty;
  for (let i = 0; i < challenge.prefix.length; i++) h = mix(h, challenge.prefix.charCodeAt(i));
  const u = (h + 0.5) / 2 ** 32;
  const p = 2 ** -challenge.difficulty;
  return p >= 1 ? 1 : Math.max(1, Math.ceil(Math.log(1 - u) / Math.log(1 - p)));
}

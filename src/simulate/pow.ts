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
 * a draw of the hashes a real solver would need (geometric, mean 2^difficulty, from the account and
 * how many challenges it met before, so replays agree) and their time at the account's hash rate. The actor adds the
 * owed time before its next action (takeDelay): the answer comes at the request's instant, the
 * account's following request that much later.
 */
export class WorkLedger {
  private readonly hashes = new Map<string, number>();
  private readonly owed = new Map<string, number>();
  /** Challenges each account met so far: the draw's seed. */
  private readonly met = new Map<string, number>();

  /** null: against a deployment, where clients solve for real and the work is what they spent. */
  constructor(readonly simulated: SimulatedProofOfWork | null) {}

  /** The solver a client of this account gets; undefined means the client's real SHA-256 solver. */
  solverFor(accountId: string, hashRate: number, now: () => number): ((c: Challenge) => Promise<Solution>) | undefined {
    const sim = this.simulated;
    if (!sim) return undefined;
    return async (challenge) => {
      const n = this.met.get(accountId) ?? 0;
      this.met.set(accountId, n + 1);
      const hashes = expectedDraw(accountId, n, challenge.difficulty);
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
 * Hashes until the first success at p = 2^-difficulty (geometric), drawn from the account id and
 * the number of challenges it met before. Drawn from the challenge's prefix, it followed the
 * server's Random, whose other draws (event ids, by timers of the event pipeline) interleave with
 * the replay's as the machine's speed allows: the same seed gave other proof-of-work figures under
 * load (residential-aged's CPU-hours per 1,000 exposed: 1.413, then 1.392), and the nodes of a
 * scaled-out run each have their own Random.
 */
function expectedDraw(accountId: string, n: number, difficulty: number): number {
  let h = mix(difficulty, n);
  for (let i = 0; i < accountId.length; i++) h = mix(h, accountId.charCodeAt(i));
  const u = (h + 0.5) / 2 ** 32;
  const p = 2 ** -difficulty;
  return p >= 1 ? 1 : Math.max(1, Math.ceil(Math.log(1 - u) / Math.log(1 - p)));
}

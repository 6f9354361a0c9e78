import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { CHALLENGE_ALGORITHM, parseProof, verifyProof, type Challenge } from '../protocol/index.js';
import type { HashKey } from '../config/config.js';
import type { Random } from '../util/random.js';
import type { SimulatedProofOfWork } from './simulated-work.js';
import type { LimitStore } from './store.js';

const MAC_BYTES = 16;

/**
 * Proof-of-work challenges (the format is src/client/challenge.ts). The id carries its own
 * expiry, difficulty and a MAC binding it to the account, so any node can check a proof without
 * shared state; the store only remembers used ids, which makes each challenge single-use.
 * id = "c1.<expiry s, base36>.<difficulty>.<prefix>.<MAC(account, expiry, difficulty, prefix)>"
 */
/**
 * How long a proof's used mark outlives the proof by the redeeming node's clock. A node whose clock
 * is behind takes the proof as unexpired for that much longer, so a mark kept only until the
 * proof's expiry by a node ahead would let a node behind accept it again: the clock skew between
 * nodes findguard tolerates. One small key per solved proof, five minutes longer.
 */
export const USED_MARK_SKEW_MS = 5 * 60_000;

export class Challenges {
  private readonly keys: Buffer[];

  constructor(
    hashKeys: readonly HashKey[],
    private readonly random: Random,
    private readonly store: LimitStore,
    /** The attack simulator's in-process stand-in for the SHA-256 arithmetic only (see simulated-work.ts); never in a deployment. */
    private readonly simulated?: SimulatedProofOfWork,
  ) {
    this.keys = hashKeys.map((k) => Buffer.from(hkdfSync('sha256', k.key, Buffer.alloc(0), 'findguard challenge v1', 32)));
  }

  issue(accountId: string, difficulty: number, ttlMs: number, now: number): Challenge {
    const expires = Math.floor((now + ttlMs) / 1000);
    const prefix = this.random.bytes(12).toString('base64url');
    const head = `c1.${expires.toString(36)}.${difficulty}.${prefix}`;
    const mac = this.mac(this.keys[0]!, accountId, head).toString('base64url');
    return { id: `${head}.${mac}`, algorithm: CHALLENGE_ALGORITHM, difficulty, prefix, expiresAt: new Date(expires * 1000).toISOString() };
  }

  /**
   * True when the header solves an unexpired challenge issued to this account, at least as hard
   * as `minDifficulty`, and not used before (it is used up now).
   */
  async redeem(accountId: string, header: string | undefined, minDifficulty: number, now: number): Promise<boolean> {
    return (await this.redeemDifficulty(accountId, header, minDifficulty, now)) !== undefined;
  }

  /**
   * As redeem, answering the difficulty of the proof it used up (undefined: none). The limiter
   * may judge the call again at another tier once the store has read the caller's strikes, and a
   * proof used up counts there only if it is hard enough for that tier too.
   */
  async redeemDifficulty(accountId: string, header: string | undefined, minDifficulty: number, now: number): Promise<number | undefined> {
    const proof = parseProof(header);
    if (!proof) return undefined;
    const parts = proof.id.split('.');
    if (parts.length !== 5 || parts[0] !== 'c1') return undefined;
    const [, exp36, diffText, prefix, macText] = parts as [string, string, string, string, string];
    const expires = parseInt(exp36, 36);
    const difficulty = Number(diffText);
    if (!Number.isSafeInteger(expires) || !/^[0-9]{1,2}$/.test(diffText) || difficulty < minDifficulty) return undefined;
    const head = `c1.${exp36}.${diffText}.${prefix}`;
    const given = Buffer.from(macText, 'base64url');
    if (given.length !== MAC_BYTES || !this.keys.some((k) => timingSafeEqual(this.mac(k, accountId, head), given))) return undefined;
    const challenge: Challenge = { id: proof.id, algorithm: CHALLENGE_ALGORITHM, difficulty, prefix, expiresAt: new Date(expires * 1000).toISOString() };
    const solved = this.simulated ? now <= expires * 1000 && this.simulated.accepts(challenge, proof.nonce) : verifyProof(challenge, header, now);
    if (!solved) return undefined;
    return (await this.store.useOnce(`ch:${prefix}`, expires * 1000 - now + USED_MARK_SKEW_MS, now)) ? difficulty : undefined;
  }

  private mac(key: Buffer, accountId: string, head: string): Buffer {
    return createHmac('sha256', key).update(accountId).update('\0').update(head).digest().subarray(0, MAC_BYTES);
  }
}

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { formatProof, solveChallenge } from '../client/challenge.js';
import { AppError } from '../errors.js';
import type { IpInfo, IpIntel } from '../net/index.js';
import { compilePolicy, type CompiledPolicy } from '../policy/index.js';
import type { Policy } from '../policy/schema.js';
import { ManualClock } from '../util/clock.js';
import { SeededRandom } from '../util/random.js';
import { Challenges } from './challenges.js';
import { Limiter, type LimitRequest } from './limiter.js';
import { MemoryLimitStore } from './memory-store.js';
import { LimitMetrics } from './metrics.js';
import type { ApplyInput, ApplyResult } from './store.js';

/**
 * The limiter's side of 'stale-strikes' (limiter.ts, MAX_APPLIES): a tier chosen from a strike
 * count the store finds changed is chosen again, a bounded number of times, and a proof counts
 * only at the tier the call is finally judged at.
 */
const T0 = Date.parse('2026-11-01T12:00:00Z');
const intel: IpIntel = { lookup: (ip: string): IpInfo => ({ ip, version: 4, country: 'DE', asn: 3320, hosting: false }) };

/** A tier per strike count 0..3 (every strike changes it), budgets shrinking, difficulty growing. */
const POLICY: Policy = {
  name: 'stale-strikes',
  tiers: [
    { name: 's0', when: { maxStrikes: 0 } },
    { name: 's1', when: { maxStrikes: 1 } },
    { name: 's2', when: { maxStrikes: 2 } },
    { name: 's3', when: { maxStrikes: 3 } },
    { name: 'worst' },
  ],
  layers: [
    {
      id: 'account-new',
      subject: 'account',
      cost: 'new',
      limits: { s0: { burst: 100, refill: 0, per: '1d' }, s1: { burst: 50, refill: 0, per: '1d' }, default: { burst: 10, refill: 0, per: '1d' } },
    },
  ],
  challenge: { difficulty: { s0: 1, default: 4 }, ttl: '5m' },
};

/**
 * A memory store where, before each apply, another node refuses this account `interlopers` times
 * more (one strike each): the count moves between this limiter's round trips.
 */
class Interloped extends MemoryLimitStore {
  applies = 0;
  constructor(private interlopers: number) {
    super();
  }
  override async apply(input: ApplyInput): Promise<ApplyResult> {
    this.applies++;
    if (this.interlopers > 0 && input.strikeKey) {
      this.interlopers--;
      const refusal = await super.apply({ ...input, charges: [{ layer: 'x', scope: 'account', key: 'elsewhere', cost: 2, burst: 1, rate: 0, perMs: 1000, shadow: false }], strikesMin: undefined, strikesMax: undefined });
      expect(refusal.outcome).toBe('refused');
    }
    return super.apply(input);
  }
}

function limiter(store: MemoryLimitStore, policy: CompiledPolicy = compilePolicy(POLICY)): { limiter: Limiter; challenges: Challenges; metrics: LimitMetrics; clock: ManualClock } {
  const challenges = new Challenges([{ version: 1, key: Buffer.alloc(32, 1) }], new SeededRandom(1), store);
  const metrics = new LimitMetrics(undefined, { defaultMetrics: false });
  const clock = new ManualClock(T0);
  return { limiter: new Limiter({ policy, store, ipIntel: intel, challenges, metrics, clock, logger: pino({ level: 'silent' }) }), challenges, metrics, clock };
}

const call = (newNumbers: number, over: Partial<LimitRequest> = {}): LimitRequest => ({ accountId: 'acc-1', ip: '81.2.69.160', account: { createdAt: 0 }, operation: 'full-sync', newNumbers, ...over });

async function outcome(l: Limiter, req: LimitRequest): Promise<string> {
  try {
    return `allowed:${(await l.check(req)).tier}`;
  } catch (err) {
    if (err instanceof AppError) return `${err.code}:${JSON.stringify(err.details)}`;
    throw err;
  }
}

describe("Limiter: a tier chosen from strikes the store finds changed", () => {
  it('is chosen again from the count the store read, and charged there', async () => {
    const store = new Interloped(1);
    const { limiter: l } = limiter(store);
    // Guessed s0 (no strikes known); a strike elsewhere made it s1, whose burst (50) is charged.
    expect(await outcome(l, call(40))).toBe('allowed:s1');
    expect(store.applies).toBe(2);
    expect(await outcome(l, call(11))).toMatch(/^rate_limited:/);
    expect(store.applies).toBe(3);
  });

  it('refuses the call, charging nothing, when the strikes change tier between every one of three applies', async () => {
    const store = new Interloped(3);
    const { limiter: l, metrics } = limiter(store);
    expect(await outcome(l, call(1))).toBe('rate_limited:{"retryAfter":1,"scope":"account"}');
    expect(store.applies).toBe(3);
    // Nothing charged, and no strike of its own: the three are the other node's.
    expect(await store.strikes('strike:acc-1', T0)).toBe(3);
    expect(store.size).toBe(1);
    expect((await metrics.text()).body).toContain('findguard_discovery_calls_total{operation="full-sync",outcome="refused",scope="account"} 1');
    // With the count settled the next call is judged at s3 (burst 10) in one apply.
    expect(await outcome(l, call(10))).toBe('allowed:s3');
    expect(store.applies).toBe(4);
  });

  it('counts a proof only if it is hard enough for the tier the call is finally judged at', async () => {
    const store = new Interloped(1);
    const { limiter: l, challenges, clock } = limiter(store);
    // Issued for s0 (difficulty 1), the tier this node still believes in; the account is s1 (4) by the time it is used.
    const easy = challenges.issue('acc-1', 1, 300_000, clock.now());
    const easyProof = formatProof(easy.id, (await solveChallenge(easy)).nonce);
    const refused = await outcome(l, call(1, { forceChallenge: true, proof: easyProof }));
    expect(refused).toMatch(/^challenge_required:/);
    expect(refused).toContain('"difficulty":4');
    const hard = challenges.issue('acc-1', 4, 300_000, clock.now());
    const hardProof = formatProof(hard.id, (await solveChallenge(hard)).nonce);
    expect(await outcome(l, call(1, { forceChallenge: true, proof: hardProof }))).toBe('allowed:s1');
  });

  it('asks the store once per call when the strike count does not decide the tier', async () => {
    const store = new Interloped(1);
    // Same tiers, none with maxStrikes: no strike range is sent, and strikes never call for a second apply.
    const { limiter: l } = limiter(store, compilePolicy({ ...POLICY, tiers: POLICY.tiers.map((t) => ({ name: t.name })) }));
    expect(await outcome(l, call(40))).toBe('allowed:s0');
    expect(store.applies).toBe(1);
  });
});

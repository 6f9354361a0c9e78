import { describe, expect, it } from 'vitest';
import { MemoryLimitStore } from './memory-store.js';
import type { ApplyInput, BreakerCharge, Charge } from './store.js';

const HOUR = 3_600_000;
const charge = (over: Partial<Charge> = {}): Charge => ({
  layer: 'account-new',
  scope: 'account',
  key: 'account-new:a',
  cost: 1,
  burst: 10,
  rate: 10 / HOUR,
  perMs: HOUR,
  shadow: false,
  ...over,
});
const input = (charges: Charge[], now: number, over: Partial<ApplyInput> = {}): ApplyInput => ({ charges, proof: false, strikeKey: 'strike:a', strikeWindowMs: 7 * 24 * HOUR, now, ...over });

describe('check-and-charge (memory store)', () => {
  it('refills a token bucket with time and refuses what does not fit, with the time until it would', async () => {
    const s = new MemoryLimitStore();
    expect((await s.apply(input([charge({ cost: 10 })], 0))).outcome).toBe('allowed');
    const r = await s.apply(input([charge({ cost: 3 })], 0));
    expect(r).toMatchObject({ outcome: 'refused', scope: 'account', layer: 'account-new', retryAfterMs: 3 * 360_000 });
    expect((await s.apply(input([charge({ cost: 3 })], 3 * 360_000))).outcome).toBe('allowed');
  });

  it('checks every layer before charging any: a refusal by one layer charges none', async () => {
    const s = new MemoryLimitStore();
    const account = charge({ cost: 5 });
    const ip = charge({ layer: 'ip-new', scope: 'ip', key: 'ip-new:1.2.3.4', burst: 4, cost: 5 });
    const r = await s.apply(input([account, ip], 0));
    expect(r).toMatchObject({ outcome: 'refused', scope: 'ip' });
    expect(r.layers.map((l) => l.outcome)).toEqual(['allowed', 'refused']);
    // The account layer passed but was not charged: its whole burst is still there.
    expect((await s.apply(input([charge({ cost: 10 })], 0))).outcome).toBe('allowed');
  });

  it('names the layer that would wait longest', async () => {
    const s = new MemoryLimitStore();
    const slow = charge({ layer: 'asn-new', scope: 'asn', key: 'asn', burst: 2, rate: 1 / HOUR, cost: 2 });
    const fast = charge({ layer: 'ip-new', scope: 'ip', key: 'ip', burst: 2, rate: 100 / HOUR, cost: 2 });
    await s.apply(input([fast, slow], 0));
    const r = await s.apply(input([fast, slow].map((c) => ({ ...c, cost: 2 })), 0));
    expect(r).toMatchObject({ outcome: 'refused', scope: 'asn' });
  });

  it('answers a bucket that can never hold the cost with its period', async () => {
    const s = new MemoryLimitStore();
    expect(await s.apply(input([charge({ burst: 0, rate: 0, perMs: 86_400_000 })], 0))).toMatchObject({ outcome: 'refused', retryAfterMs: 86_400_000 });
    expect(await s.apply(input([charge({ cost: 11 })], 0))).toMatchObject({ outcome: 'refused', retryAfterMs: HOUR });
  });

  it('counts shadow layers without refusing and without charging what they would refuse', async () => {
    const s = new MemoryLimitStore();
    const shadow = charge({ layer: 'ip-new', key: 'ip', burst: 2, shadow: true, cost: 3 });
    const r = await s.apply(input([charge({ cost: 3 }), shadow], 0));
    expect(r.outcome).toBe('allowed');
    expect(r.layers.map((l) => l.outcome)).toEqual(['allowed', 'shadow_refused']);
  });

  it('flags near-limit calls and asks for a proof under challengeBelow, charging nothing until it comes', async () => {
    const s = new MemoryLimitStore();
    const c = charge({ challengeBelow: 0.5, cost: 6 });
    expect(await s.apply(input([c], 0))).toMatchObject({ outcome: 'challenge', scope: 'account' });
    const r = await s.apply(input([c], 0, { proof: true }));
    expect(r.outcome).toBe('allowed');
    expect(r.layers[0]).toMatchObject({ nearLimit: false });
    expect((await s.apply(input([charge({ cost: 3 })], 0))).layers[0]).toMatchObject({ nearLimit: true });
  });

  it('counts strikes for refusals at account scope only', async () => {
    const s = new MemoryLimitStore();
    await s.apply(input([charge({ cost: 11 })], 0));
    await s.apply(input([charge({ layer: 'ip-new', scope: 'ip', key: 'ip', cost: 11 })], 0));
    expect(await s.strikes('strike:a', 0)).toBe(1);
    expect(await s.strikes('strike:a', 7 * 24 * HOUR)).toBe(0);
  });

  it("answers 'stale-strikes' with the current count, charging and writing nothing, when the count is outside the caller's tier", async () => {
    const s = new MemoryLimitStore();
    const breaker: BreakerCharge = { key: 'breaker:global', demand: 5, windowMs: HOUR, alpha: 0.5, initialBaseline: 1, ratio: 1, minimum: 1, holdMs: HOUR, share: 1, shadow: false };
    // Two strikes.
    for (let i = 0; i < 2; i++) await s.apply(input([charge({ cost: 11 })], 0));
    // Judged as if it had none or one (a count another node has moved since): nothing happens, not
    // even the strike a refusal would add or the breaker's demand.
    for (const range of [{ strikesMin: 0, strikesMax: 0 }, { strikesMin: 0, strikesMax: 1 }, { strikesMin: 3 }]) {
      const r = await s.apply(input([charge({ cost: 4 }), charge({ key: 'too-big', cost: 11 })], 0, { ...range, breaker }));
      expect(r).toStrictEqual({ outcome: 'stale-strikes', layers: [], tripped: false, breakerShadowRefused: false, strikes: 2 });
    }
    expect(s.size).toBe(1);
    expect(await s.strikes('strike:a', 0)).toBe(2);
    // Inside the range (bounds included), or with no range, or no strike key: charged as ever.
    expect(await s.apply(input([charge({ cost: 4 })], 0, { strikesMin: 2, strikesMax: 2 }))).toMatchObject({ outcome: 'allowed', strikes: 2 });
    expect(await s.apply(input([charge({ cost: 4 })], 0, { strikesMin: 1 }))).toMatchObject({ outcome: 'allowed', strikes: 2 });
    expect((await s.apply(input([charge({ cost: 1 })], 0))).outcome).toBe('allowed');
    expect((await s.apply(input([charge({ cost: 1 })], 0, { strikeKey: undefined, strikesMin: 5 }))).outcome).toBe('allowed');
    expect((await s.apply(input([charge({ cost: 1 })], 0, { strikesMin: 0, strikesMax: 0 }))).outcome).toBe('stale-strikes');
  });

  it("answers 'stale-strikes' below the range once the strikes expired", async () => {
    const s = new MemoryLimitStore();
    await s.apply(input([charge({ cost: 11 })], 0));
    expect((await s.apply(input([charge()], 1, { strikesMin: 1 }))).outcome).toBe('allowed');
    expect(await s.apply(input([charge()], 7 * 24 * HOUR, { strikesMin: 1 }))).toMatchObject({ outcome: 'stale-strikes', strikes: 0 });
    expect(await s.apply(input([charge()], 7 * 24 * HOUR, { strikesMin: 0, strikesMax: 0 }))).toMatchObject({ outcome: 'allowed', strikes: 0 });
  });

  it('expires buckets once they are full again', async () => {
    const s = new MemoryLimitStore();
    await s.apply(input([charge({ cost: 5 })], 0));
    expect(s.size).toBe(1);
    s.sweep(HOUR);
    expect(s.size).toBe(0);
  });
});

describe('global breaker', () => {
  const W = 300_000;
  const breaker = (demand: number, share = 0, over: Partial<BreakerCharge> = {}): BreakerCharge => ({
    key: 'breaker:global',
    demand,
    windowMs: W,
    alpha: 0.5,
    initialBaseline: 100,
    ratio: 4,
    minimum: 200,
    holdMs: 2 * W,
    share,
    shadow: false,
    ...over,
  });
  const big = charge({ burst: 1e9, rate: 1, key: 'x' });

  it("trips when a window's demand passes ratio x baseline, refuses tightened tiers with scope global, and holds", async () => {
    const s = new MemoryLimitStore();
    expect((await s.apply(input([big], 0, { breaker: breaker(399) }))).tripped).toBe(false);
    const r = await s.apply(input([big], 1, { breaker: breaker(2) }));
    expect(r).toMatchObject({ outcome: 'refused', scope: 'global', layer: 'breaker', tripped: true });
    expect(r.retryAfterMs).toBe(2 * W);
    // A trusted tier (share 1) still passes while tripped.
    expect((await s.apply(input([big], 2, { breaker: breaker(1, 1) }))).outcome).toBe('allowed');
    // Quiet windows: released after the hold.
    expect((await s.apply(input([big], 2 * W + 2, { breaker: breaker(1) }))).tripped).toBe(false);
  });

  it('lets a partly tightened tier use only its share of each bucket', async () => {
    const s = new MemoryLimitStore();
    await s.apply(input([], 0, { breaker: breaker(1000) }));
    const c = charge({ burst: 10, key: 'half' });
    expect((await s.apply(input([{ ...c, cost: 5 }], 1, { breaker: breaker(0, 0.5) }))).outcome).toBe('allowed');
    expect(await s.apply(input([{ ...c, cost: 1 }], 2, { breaker: breaker(0, 0.5) }))).toMatchObject({ outcome: 'refused', scope: 'global' });
  });

  it('learns its baseline from windows when it was not tripped, and not from an attack', async () => {
    const s = new MemoryLimitStore();
    // Organic demand of 300 per window for a while: the baseline (alpha 0.5) moves to ~300,
    // so 1,000 in a window no longer trips (threshold 4 x 300).
    for (let w = 0; w < 10; w++) await s.apply(input([], w * W, { breaker: breaker(300) }));
    expect((await s.apply(input([], 10 * W, { breaker: breaker(1000) }))).tripped).toBe(false);
    // An attack window trips; the baseline does not learn from it, so the next one trips too.
    expect((await s.apply(input([], 11 * W, { breaker: breaker(5000) }))).tripped).toBe(true);
    expect((await s.apply(input([], 12 * W, { breaker: breaker(1300) }))).tripped).toBe(true);
  });

  it('in shadow mode only reports what it would have refused', async () => {
    const s = new MemoryLimitStore();
    const r = await s.apply(input([big], 0, { breaker: breaker(10_000, 0, { shadow: true }) }));
    expect(r).toMatchObject({ outcome: 'allowed', tripped: true, breakerShadowRefused: true });
  });
});

import { describe, expect, it } from 'vitest';
import { compileAbusePolicy, DEFAULT_ABUSE_POLICY, type AbusePolicy } from '../../policy/index.js';
import { consecutive, DAY, fake, HOUR, person, T0, Traffic, US_BLOCKS } from '../synthetic.js';
import { blockCallingCode, regionCallingCode } from './blocks.js';
import { IdleMap } from './idle-map.js';
import { FeatureStore, L, S, decayed, sliding, spread } from './store.js';
import { DecayedPair, slideTo, slidingSlots, slidingValue } from './window.js';

function store(over: Partial<AbusePolicy['features']> = {}): FeatureStore {
  return new FeatureStore(compileAbusePolicy({ ...DEFAULT_ABUSE_POLICY, features: { ...DEFAULT_ABUSE_POLICY.features, ...over } }));
}

describe('window primitives', () => {
  it('a sliding counter forgets what left the window, gradually', () => {
    const a = new Float64Array(slidingSlots(1));
    const w = HOUR;
    const t = 10 * HOUR;
    a[slideTo(a, 0, 1, w, t)]! += 100;
    expect(slidingValue(a, 0, 1, w, t + 30 * 60_000, 0)).toBe(100);
    // Half of the next bucket elapsed: half of the previous bucket still counts.
    expect(slidingValue(a, 0, 1, w, t + HOUR + 30 * 60_000, 0)).toBeCloseTo(50);
    expect(slidingValue(a, 0, 1, w, t + 3 * HOUR, 0)).toBe(0);
    // A late event (previous bucket) still counts; a very late one does not.
    a[slideTo(a, 0, 1, w, t + HOUR)]! += 10;
    a[slideTo(a, 0, 1, w, t)]! += 5;
    expect(slideTo(a, 0, 1, w, t - 5 * HOUR)).toBe(-1);
    expect(slidingValue(a, 0, 1, w, t + HOUR, 0)).toBe(115);
  });

  it('a decayed pair halves every half-life', () => {
    const p = new DecayedPair(DAY);
    p.add(T0, 100, 20);
    expect(p.x(T0 + DAY)).toBeCloseTo(50);
    expect(p.y(T0 + 2 * DAY)).toBeCloseTo(5);
  });

  it('an idle map expires idle keys and holds its cap, oldest first', () => {
    const evicted: string[] = [];
    const m = new IdleMap<{ lastAt: number }>(DAY, 3, (k) => evicted.push(k));
    for (const [k, at] of [['a', 0], ['b', 10], ['c', 20]] as const) m.insert(k, { lastAt: at });
    m.touch('a', 2 * HOUR);
    expect(m.touch('d', 3 * HOUR)).toBeUndefined();
    m.insert('d', { lastAt: 3 * HOUR });
    expect(evicted).toEqual(['b']);
    m.expire(DAY + 25);
    expect(evicted).toEqual(['b', 'c']);
    expect(m.size).toBe(2);
    // Touched again within the hour: kept in place, but its time moves on.
    m.touch('a', 2 * HOUR + 60_000);
    expect(m.get('a')!.lastAt).toBe(2 * HOUR + 60_000);
  });
});

describe('blocks', () => {
  it('maps blocks and regions to calling codes; +1 is shared', () => {
    expect(blockCallingCode('+1415555')).toBe('1');
    expect(blockCallingCode('+98912100')).toBe('98');
    expect(blockCallingCode('+447700900')).toBe('44');
    expect(regionCallingCode('CA')).toBe('1');
    expect(regionCallingCode('IR')).toBe('98');
    expect(regionCallingCode(undefined)).toBeUndefined();
  });
});

describe('FeatureStore', () => {
  it('counts velocity, density, foreign share and runs of a range scan', () => {
    const s = store();
    const t = new Traffic(1);
    const scanner = fake(0, T0 - HOUR);
    let k = 0;
    for (let i = 0; i < 12; i++) {
      // 10 calls of 50 consecutive numbers per block: the scan crosses into the next block every 10 calls... here every 4.
      const facts = s.observeLookup(t.call(scanner, T0 + i * 2 * 60_000, consecutive(US_BLOCKS, k, 50), { hitRate: 0.1 }));
      expect(facts.dense).toBe(true);
      expect(facts.foreign).toBe(50);
      k += 2500;
    }
    const acc = s.account(scanner.accountId)!;
    const now = T0 + 30 * 60_000;
    expect(sliding(s, acc, 'short', S.newNumbers, now)).toBe(600);
    expect(sliding(s, acc, 'short', S.denseCalls, now)).toBe(12);
    expect(decayed(s, acc, L.foreign, now) / decayed(s, acc, L.asked, now)).toBeCloseTo(1);
    expect(acc.bestRun).toBe(3);
    expect(acc.bestRunFrom).toBe(US_BLOCKS[0]);
    expect(acc.bestRunTo).toBe(US_BLOCKS[2]);
    // New accounts on hosting networks do not move the population's yardstick.
    expect(s.populationHitRate(now)).toBe(0);
    s.observeLookup(t.call(person(1), now, t.book(US_BLOCKS, [], 100), { hitRate: 0.3 }));
    expect(s.populationHitRate(now)).toBeCloseTo(0.3, 2);
  });

  it('counts a challenged call once: its numbers come again with the proof of work', () => {
    const s = store();
    const t = new Traffic(3);
    const p = person(2);
    const book = t.book(US_BLOCKS, [], 4000);
    s.observeLookup(t.call(p, T0, book, { outcome: 'challenged', newNumbers: book.length }));
    s.observeLookup(t.call(p, T0 + 2000, book, { newNumbers: book.length }));
    const acc = s.account(p.accountId)!;
    expect(sliding(s, acc, 'short', S.newNumbers, T0 + 3000)).toBe(book.length);
    expect(sliding(s, acc, 'short', S.calls, T0 + 3000)).toBe(2);
    expect(sliding(s, acc, 'short', S.refused, T0 + 3000)).toBe(1);
    expect(decayed(s, acc, L.asked, T0 + 3000)).toBeCloseTo(book.length, -1);
  });

  it('an address book is neither dense nor foreign, and its hit rate feeds the population', () => {
    const s = store();
    const t = new Traffic(2);
    const p = person(1);
    const facts = s.observeLookup(t.call(p, T0, t.book(US_BLOCKS, [], 200), { hitRate: 0.3 }));
    expect(facts.dense).toBe(false);
    expect(facts.foreign).toBe(0);
    expect(facts.blocks).toBeGreaterThan(20);
    expect(s.populationHitRate(T0)).toBeCloseTo(0.3, 1);
  });

  it('tracks address and country spread, and the accounts on each key', () => {
    const s = store();
    const t = new Traffic(3);
    const traveller = person(7);
    const countries = ['US', 'FR', 'TH'];
    countries.forEach((c, i) => s.observeLookup(t.call({ ...traveller, ip: `192.0.2.${i}`, country: c }, T0 + i * HOUR, t.randomNumbers(US_BLOCKS, 1))));
    expect(spread(s, s.account(traveller.accountId)!, T0 + 3 * HOUR)).toEqual({ ips: 3, countries: 3 });
    for (let i = 0; i < 5; i++) s.observeLookup(t.call(person(100 + i, { ip: '100.64.9.9' }), T0 + i, t.randomNumbers(US_BLOCKS, 1)));
    expect(s.infra('ip', '100.64.9.9')!.memberCount).toBe(5);
  });

  it('keeps sign-up context apart from calls', () => {
    const s = store();
    const t = new Traffic(4);
    const f = fake(3, T0);
    s.observeSignup(t.signup(f));
    const acc = s.account(f.accountId)!;
    expect(acc.signup).toMatchObject({ ip: f.ip, subnet: f.subnet, asn: 64500, network: 'hosting', deviceId: 'farm-dev-0' });
    expect(s.infra('device', 'farm-dev-0')!.signups).toBe(1);
  });

  it('stays within its caps and forgets idle keys', () => {
    const s = store({ maxAccounts: 100, maxInfraKeys: 400, idleTtl: '1d' });
    const t = new Traffic(5);
    for (let i = 0; i < 1000; i++) s.observeLookup(t.call(person(i, { ip: `100.65.${i >> 8}.${i & 255}` }), T0 + i, t.randomNumbers(US_BLOCKS, 3)));
    expect(s.accountCount).toBe(100);
    expect([...s.infraKeys('ip')].length).toBeLessThanOrEqual(100);
    s.expire(T0 + 2 * DAY);
    expect(s.accountCount).toBe(0);
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { DEFAULT_ABUSE_POLICY } from './abuse.js';
import { BUILT_IN_POLICIES, DEFAULT_POLICY } from './builtin.js';
import { compilePolicy, loadPolicy, PolicyError } from './compile.js';
import type { Policy } from './schema.js';

const DAY = 86_400_000;
const facts = (over: Partial<Parameters<ReturnType<typeof loadPolicy>['tierOf']>[0]> = {}) => ({
  accountAgeMs: 400 * DAY,
  network: 'other' as const,
  phoneCountry: 'GB',
  strikes: 0,
  ...over,
});

describe('policies', () => {
  it('compiles every built-in', () => {
    for (const name of Object.keys(BUILT_IN_POLICIES)) expect(loadPolicy(name).name).toBe(name);
  });

  it('puts callers in tiers by network, age, phone and history (first match wins)', () => {
    const p = loadPolicy('default');
    expect(p.tierOf(facts())).toBe('trusted');
    expect(p.tierOf(facts({ strikes: 1 }))).toBe('standard');
    expect(p.tierOf(facts({ accountAgeMs: 30 * DAY }))).toBe('standard');
    expect(p.tierOf(facts({ accountAgeMs: DAY }))).toBe('new');
    expect(p.tierOf(facts({ phoneCountry: undefined }))).toBe('no-phone');
    expect(p.tierOf(facts({ network: 'hosting' }))).toBe('hosting');
    expect(p.tierOf(facts({ network: 'tor', accountAgeMs: DAY }))).toBe('hosting-new');
    // A sign-up the app attested (a phone behind a VPN) is the hosting tier's from the first day.
    expect(p.tierOf(facts({ network: 'hosting', accountAgeMs: DAY, signupAttested: true }))).toBe('hosting');
    expect(p.tierOf(facts({ network: 'hosting', accountAgeMs: DAY, signupAttested: false }))).toBe('hosting-new');
    expect(p.tierOf(facts({ accountAgeMs: DAY, signupAttested: true }))).toBe('new');
  });

  it('matches signupAttested: true only an attested sign-up, false every other', () => {
    const p = compilePolicy({
      name: 'attested',
      tiers: [{ name: 'vouched', when: { signupAttested: true } }, { name: 'unvouched', when: { signupAttested: false } }, { name: 'rest' }],
      layers: [{ id: 'a', subject: 'account', cost: 'new', limits: { default: { burst: 1, refill: 1, per: '1d' } } }],
    });
    expect([p.tierOf(facts({ signupAttested: true })), p.tierOf(facts({ signupAttested: false })), p.tierOf(facts())]).toEqual(['vouched', 'unvouched', 'unvouched']);
  });

  it('finds the least age at which an account reaches a tier, age alone changing', () => {
    const p = loadPolicy('default');
    const notHostingNew = (t: string) => t !== 'hosting-new';
    expect(p.ageUntil(facts({ network: 'hosting', accountAgeMs: DAY }), notHostingNew)).toBe(7 * DAY);
    expect(p.ageUntil(facts({ network: 'hosting', accountAgeMs: 8 * DAY }), notHostingNew)).toBe(8 * DAY);
    expect(p.ageUntil(facts({ accountAgeMs: DAY }), (t) => t === 'trusted')).toBe(180 * DAY);
    // A strike keeps the account out of trusted whatever its age; no phone keeps it in no-phone.
    expect(p.ageUntil(facts({ accountAgeMs: DAY, strikes: 1 }), (t) => t === 'trusted')).toBeUndefined();
    expect(p.ageUntil(facts({ accountAgeMs: DAY, phoneCountry: undefined }), (t) => t === 'standard')).toBeUndefined();
  });

  it('resolves limits per tier with the default fallback, null meaning unlimited', () => {
    const p = compilePolicy({
      name: 't',
      tiers: [{ name: 'vip', when: { phoneCountryIn: ['GB'] } }, { name: 'rest' }],
      layers: [{ id: 'acct', subject: 'account', cost: 'new', limits: { default: { burst: 5, refill: 24, per: '1d' }, vip: null } }],
    });
    expect(p.layers[0]!.limitFor('vip')).toBeUndefined();
    expect(p.layers[0]!.limitFor('rest')).toMatchObject({ burst: 5, rate: 24 / DAY, perMs: DAY });
  });

  it("keeps a layer's buckets until they are full at its slowest-filling tier, whatever tier wrote them", () => {
    const keep = (limits: Policy['layers'][number]['limits']) =>
      compilePolicy({
        name: 't',
        tiers: [{ name: 'a', when: { network: ['hosting'] } }, { name: 'b', when: { network: ['tor'] } }, { name: 'c' }],
        layers: [{ id: 'l', subject: 'account', cost: 'new', limits }],
      }).layers[0]!.keep;
    // a fills in 1 day, b (the default) in 10: the largest burst over the longest fill time.
    expect(keep({ a: { burst: 50, refill: 50, per: '1d' }, default: { burst: 5000, refill: 500, per: '1d' } })).toEqual({ burst: 5000, rate: 500 / DAY });
    // The chord: the small tier's fill time with the big tier's burst.
    expect(keep({ a: { burst: 10, refill: 1, per: '1d' }, default: { burst: 100, refill: 100, per: '1d' } })).toEqual({ burst: 100, rate: 10 / DAY });
    // A tier the layer does not limit, or one with no burst (always full), counts for nothing.
    expect(keep({ a: null, b: { burst: 0, refill: 0, per: '1d' }, c: { burst: 5, refill: 24, per: '1d' } })).toEqual({ burst: 5, rate: 24 / DAY });
    // A tier that never refills keeps every bucket of the layer as long as the stores keep anything.
    expect(keep({ a: { burst: 3, refill: 0, per: '1d' }, default: { burst: 5, refill: 24, per: '1d' } })).toEqual({ burst: 5, rate: 0 });
    // The default policy's account layer: `new` (5,000 + 500 a day) is the slowest to fill.
    expect(loadPolicy('default').layers.find((l) => l.id === 'account-new')!.keep).toEqual({ burst: 10_000, rate: 1000 / DAY });
  });

  it('reads YAML and JSON files, and the default printed as YAML reads back the same', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-policy-'));
    writeFileSync(join(dir, 'p.yaml'), stringify(DEFAULT_POLICY));
    writeFileSync(join(dir, 'p.json'), JSON.stringify(DEFAULT_POLICY));
    expect(loadPolicy(join(dir, 'p.yaml')).source).toEqual(DEFAULT_POLICY);
    expect(loadPolicy(join(dir, 'p.json')).source).toEqual(DEFAULT_POLICY);
  });

  it('loads Tor exit lists relative to the policy file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-policy-'));
    writeFileSync(join(dir, 'exits.txt'), '# exits\n185.220.101.1\n2001:db8::1\n');
    writeFileSync(join(dir, 'p.yaml'), stringify({ ...DEFAULT_POLICY, torExitLists: ['exits.txt'], hostingAsns: [64500], nonHostingAsns: [64501] }));
    const p = loadPolicy(join(dir, 'p.yaml'));
    expect(p.networkOf('185.220.101.1', undefined)).toBe('tor');
    expect(p.networkOf('198.51.100.1', { asn: 64500, hosting: false })).toBe('hosting');
    expect(p.networkOf('198.51.100.2', { asn: 64501, hosting: true })).toBe('other');
    expect(p.networkOf('198.51.100.3', { asn: 64502, hosting: true })).toBe('hosting');
  });

  const bad: Array<[string, (p: Policy) => unknown, RegExp]> = [
    ['an unknown field', (p) => ({ ...p, surprise: 1 }), /surprise|additional/i],
    ['a bad duration', (p) => ((p.layers[0]!.limits.new = { burst: 1, refill: 1, per: 'soon' }), p), /per|pattern|match/i],
    ['an unknown tier in limits', (p) => ((p.layers[0]!.limits.gold = { burst: 1, refill: 1, per: '1d' }), p), /unknown tier "gold"/],
    ['an unknown tier in the breaker', (p) => ((p.breaker!.tighten.gold = 0), p), /breaker.tighten names unknown tier "gold"/],
    ['no catch-all tier', (p) => ((p.tiers = p.tiers.slice(0, -1)), p), /last tier/],
    ['duplicate layer ids', (p) => ((p.layers = [...p.layers, p.layers[0]!]), p), /unique/],
    ['a zero period', (p) => ((p.layers[0]!.limits.new = { burst: 1, refill: 1, per: '0s' }), p), /longer than 0/],
    ['challenges without a challenge section', (p) => (delete p.challenge, p), /no challenge section/],
    ['a scope that does not exist', (p) => ((p.layers[0] as { subject: string }).subject = 'planet', p), /subject/],
  ];
  it.each(bad)('refuses %s with a message that says where', (_what, mutate, message) => {
    const p = structuredClone(DEFAULT_POLICY);
    expect(() => compilePolicy(mutate(p), 'p.yaml')).toThrow(PolicyError);
    expect(() => compilePolicy(mutate(structuredClone(DEFAULT_POLICY)), 'p.yaml')).toThrow(message);
  });

  it('takes the abuse engine\'s section and checks it', () => {
    expect(compilePolicy({ ...structuredClone(DEFAULT_POLICY), abuse: { ...DEFAULT_ABUSE_POLICY, mode: 'enforce' } }).source.abuse?.mode).toBe('enforce');
    const bad = structuredClone(DEFAULT_ABUSE_POLICY);
    bad.actions.challenge.score = bad.actions.throttle.score / 2;
    expect(() => compilePolicy({ ...structuredClone(DEFAULT_POLICY), abuse: bad }, 'p.yaml')).toThrow(/policy p.yaml: abuse: .*challenge.score/);
  });

  it('names the file when it cannot be read or parsed', () => {
    expect(() => loadPolicy('/nonexistent/policy.yaml')).toThrow(/no built-in policy of that name/);
    const dir = mkdtempSync(join(tmpdir(), 'fg-policy-'));
    writeFileSync(join(dir, 'p.json'), '{ nope');
    expect(() => loadPolicy(join(dir, 'p.json'))).toThrow(/not valid JSON/);
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_ABUSE_POLICY, type AnswersPolicy } from '../../policy/index.js';
import { AbuseEngine } from '../engine.js';
import type { LookupEvent } from '../events.js';
import { DAY, GB_BLOCKS, HOUR, T0, Traffic, US_BLOCKS, merge, organicScene, person, play, type Scene } from '../synthetic.js';
import { ANSWERS, answersCheck } from './answers.js';

const P: AnswersPolicy = DEFAULT_ABUSE_POLICY.realtime.answers!;

describe('answers rule (pure)', () => {
  it('refuses a slice of a leaked list: 150 numbers of one country, half of them registered, where books hit 15%', () => {
    const v = answersCheck(150, 78, 0.15, P);
    expect(v.excessive).toBe(true);
    expect(v.expected).toBeCloseTo(22.5);
    expect(v.z).toBeGreaterThan(7);
  });

  it('lets through the organic extremes the simulator produced (books of friends who are all on the app)', () => {
    // The highest z-scores among 6,450 organic syncs of a 30-day run at 20,000 accounts.
    expect(answersCheck(129, 33, 0.113, P).excessive).toBe(false); // z 5.1, 2.3x the country's rate
    expect(answersCheck(241, 51, 0.113, P).excessive).toBe(false); // z 5.1, 1.9x
    expect(answersCheck(85, 23, 0.11, P).excessive).toBe(false); // 2.5x, 14 above expected
    expect(answersCheck(36, 10, 0.1, P).excessive).toBe(false); // 2.8x, but 6 above expected
    // On the international model: an aged Brazilian's 60-number book, 23 friends on the app (2.9x, z 5.7).
    expect(answersCheck(60, 23, 0.13, P).excessive).toBe(false);
  });

  it('books are overdispersed: a book far above its country by the binomial is within the spread of books', () => {
    // slow-drip at 2,000 accounts: a US book of 155 numbers, 35 friends on the app, against 0.07.
    // The plain binomial z was 7.8 and the owner was suspended; overdispersed, z 4.9.
    const v = answersCheck(155, 35, 0.07, P);
    expect(v.z).toBeGreaterThan(4.5);
    expect(v.z).toBeLessThan(5.5);
    expect(v.excessive).toBe(false);
    // The same country, a list's batch of 155 at the registered share: refused.
    expect(answersCheck(155, 75, 0.07, P).excessive).toBe(true);
  });

  it('a small batch can hit high by chance: below minNumbers or minExcess it is never refused', () => {
    expect(answersCheck(20, 15, 0.15, P).excessive).toBe(false);
    expect(answersCheck(40, 17, 0.15, P).excessive).toBe(false);
  });

  it('in a country where most people are members, books hit high and the same list is no excess', () => {
    expect(answersCheck(150, 78, 0.45, P).excessive).toBe(false);
  });

  it('a batch scattered over many countries needs less excess: spread with a high hit rate is a list', () => {
    // 100 numbers over nine countries at 2.5 times the rate where books hit 30%: an expat whose
    // friends are keen, or a list. (Against a low rate the z bar binds first: see bookZ.)
    expect(answersCheck(100, 75, 0.3, P).excessive).toBe(false);
    expect(answersCheck(100, 75, 0.3, P, true).excessive).toBe(true);
    // An expat's book at the country's rate is never an excess, scattered or not.
    expect(answersCheck(60, 9, 0.15, P, true).excessive).toBe(false);
  });

  it('before anything is learned (the prior), a scattered list is refused and a keen book is not', () => {
    // leaked-list's first hour at 2,000 accounts: 150 numbers over many countries, 72 found.
    expect(answersCheck(150, 72, P.prior, P, true).excessive).toBe(true);
    expect(answersCheck(155, 35, P.prior, P).excessive).toBe(false);
    expect(answersCheck(155, 35, P.prior, P, true).excessive).toBe(false);
  });

  it('a floor keeps a country where the app is new from making every match an excess', () => {
    const v = answersCheck(200, 12, 0, P);
    expect(v.baseline).toBe(P.floor);
    expect(v.excessive).toBe(false);
  });
});

/** The default policy, enforcing; `minBaselineNumbers` lowered for crafted traffic of a few thousand numbers. */
function engineAfter(scene: Scene, now: number, minBaselineNumbers = P.minBaselineNumbers): AbuseEngine {
  const realtime = { ...DEFAULT_ABUSE_POLICY.realtime, answers: { ...P, minBaselineNumbers } };
  const engine = new AbuseEngine({ policy: { ...DEFAULT_ABUSE_POLICY, mode: 'enforce', realtime } });
  play(scene, engine, now);
  return engine;
}

/** An aged account with a phone of its own country, on a residential address: the leaked-list-by-country attacker. */
function listWorker(i: number) {
  return person(7000 + i, { accountId: `list-${i}`, createdAt: T0 - 3 * 365 * DAY, ip: `172.21.${i}.10`, subnet: `172.21.${i}.0/24`, asn: 65010 });
}

/** A sync the request path refused for its answers: charged, nothing revealed, the matches withheld on the event. */
function withheld(t: Traffic, p: ReturnType<typeof person>, at: number, numbers: string[], hitRate: number): LookupEvent {
  const e = t.call(p, at, numbers, { hitRate });
  return { ...e, outcome: 'refused', scope: 'account', revealed: [] };
}

describe('answers detector', () => {
  it('a call refused for its answers, and the history it adds to, suspend the account', async () => {
    const t = new Traffic(21);
    const organic = organicScene(t, 3);
    const p = listWorker(0);
    // The synthetic population's books hit 30%: a list pre-filtered to registered numbers hits 90%.
    const refused = withheld(t, p, T0 + 2 * DAY, t.randomNumbers(US_BLOCKS, 160), 0.9);
    const scene = merge(organic, { events: [refused], signups: [], accounts: [p.accountId] });
    const engine = engineAfter(scene, T0 + 2 * DAY + HOUR);
    const f = engine.detectors.find((d) => d.name === ANSWERS)!.findings(T0 + 2 * DAY + HOUR).find((x) => x.accountIds[0] === p.accountId)!;
    expect(f.signals).toEqual(['answers-refused', 'hit-rate-excess']);
    expect(f.score).toBeGreaterThanOrEqual(DEFAULT_ABUSE_POLICY.actions.suspendAccount.score);
    expect(f.explanation).toMatch(/a sync of 160 new numbers refused for its 144 matches/);
    const decisions = await engine.evaluate(T0 + 2 * DAY + HOUR);
    expect(decisions.find((d) => d.accountIds.includes(p.accountId))?.action).toBe('suspend-account');
  });

  it('answered history alone: batches too small to judge one by one are judged on their sum (slow-drip)', async () => {
    const t = new Traffic(22);
    const organic = organicScene(t, 3);
    const p = listWorker(1);
    // 25-number batches stay under the request path's minExcess one by one.
    const calls = Array.from({ length: 8 }, (_, k) => t.call(p, T0 + k * 6 * HOUR, t.randomNumbers(US_BLOCKS, 25), { hitRate: 0.9 }));
    const engine = engineAfter(merge(organic, { events: calls, signups: [], accounts: [p.accountId] }), T0 + 2 * DAY);
    const f = engine.detectors.find((d) => d.name === ANSWERS)!.findings(T0 + 2 * DAY).find((x) => x.accountIds[0] === p.accountId)!;
    expect(f.signals).toEqual(['hit-rate-excess', 'sustained']);
    const decisions = await engine.evaluate(T0 + 2 * DAY);
    expect(decisions.find((d) => d.accountIds.includes(p.accountId))?.action).toBe('suspend-account');
  });

  it('answered history alone: a book re-sent in full (reinstalls) by someone whose friends are keen opens nothing', () => {
    const t = new Traffic(26);
    const organic = organicScene(t, 3);
    const p = person(8400, { accountId: 'reinstaller' });
    const book = t.randomNumbers(US_BLOCKS, 300);
    // Twice the country's rate, sent whole three times: the binomial z of the sum is 13, a book's spread is not.
    const calls = [0, 1, 2].map((k) => t.call(p, T0 + k * 12 * HOUR, book, { hitRate: 0.6 }));
    const engine = engineAfter(merge(organic, { events: calls, signups: [], accounts: [p.accountId] }), T0 + 2 * DAY);
    expect(engine.detectors.find((d) => d.name === ANSWERS)!.findings(T0 + 2 * DAY).filter((x) => x.accountIds[0] === p.accountId)).toEqual([]);
  });

  it("a new account's history is judged after the answer: a launch day's joiner whose friends joined that week passes, a sleeper working a list does not", async () => {
    const t = new Traffic(25);
    const organic = organicScene(t, 3);
    // A joiner's first book at 1.7 times the country's rate (friends arriving), then small re-syncs.
    const joiner = person(8300, { accountId: 'joiner', createdAt: T0 + 2 * DAY });
    const calls = [t.call(joiner, T0 + 2 * DAY + HOUR, t.randomNumbers(US_BLOCKS, 400), { hitRate: 0.5 })];
    for (let k = 1; k <= 3; k++) calls.push(t.call(joiner, T0 + 2 * DAY + (k + 1) * HOUR, t.randomNumbers(US_BLOCKS, 6), { hitRate: 0.5, operation: 'incremental-sync' }));
    // A sleeper days old asking a list's slices of 100, nine in ten registered.
    const sleeper = person(8301, { accountId: 'sleeper', createdAt: T0 + DAY, ip: '73.19.0.20', subnet: '73.19.0.0/24' });
    for (let k = 0; k < 3; k++) calls.push(t.call(sleeper, T0 + 2 * DAY + k * 3 * HOUR, t.randomNumbers(US_BLOCKS, 100), { hitRate: 0.9 }));
    const engine = engineAfter(merge(organic, { events: calls, signups: [], accounts: ['joiner', 'sleeper'] }), T0 + 3 * DAY);
    const found = engine.detectors.find((d) => d.name === ANSWERS)!.findings(T0 + 3 * DAY);
    expect(found.filter((f) => f.accountIds[0] === 'joiner')).toEqual([]);
    expect(found.find((f) => f.accountIds[0] === 'sleeper')?.signals).toEqual(['hit-rate-excess', 'sustained']);
    const decisions = await engine.evaluate(T0 + 3 * DAY);
    expect(decisions.find((d) => d.accountIds.includes('sleeper'))?.action).toBe('suspend-account');
    expect(decisions.find((d) => d.accountIds.includes('joiner'))).toBeUndefined();
  });

  it('ordinary people are never flagged: books, carrier NAT, a family phone, a traveller, an emigrant, big first syncs', () => {
    const t = new Traffic(23);
    const organic = organicScene(t, 3);
    // A new user whose friends are all on the app: twice the country's rate on a big book.
    const keen = person(8000, { accountId: 'keen', createdAt: T0 + DAY });
    const big = t.call(keen, T0 + DAY + 60_000, t.randomNumbers(GB_BLOCKS, 3000), { hitRate: 0.6 });
    const engine = engineAfter(merge(organic, { events: [big], signups: [], accounts: ['keen'] }), T0 + 3 * DAY);
    expect(engine.detectors.find((d) => d.name === ANSWERS)!.findings(T0 + 3 * DAY)).toEqual([]);
    expect(engine.store.countryHitRate('US', T0 + 3 * DAY)).toBeCloseTo(0.3, 1);
  });

  it("the country's rate is learned from callers on ordinary networks, new ones included (a launch day's joiners are the population); hosting networks do not move it", () => {
    const t = new Traffic(24);
    const organic = organicScene(t, 3);
    const at = T0 + 3 * DAY;
    const before = engineAfter(organic, at, 1000).store.countryHitRate('US', at);
    expect(before).toBeCloseTo(0.3, 1);
    const server = person(8100, { accountId: 'server', network: 'hosting' });
    const fromServer = t.call(server, T0 + 2 * DAY, t.randomNumbers(US_BLOCKS, 3000), { hitRate: 0.9 });
    expect(engineAfter(merge(organic, { events: [fromServer], signups: [], accounts: ['server'] }), at, 1000).store.countryHitRate('US', at)).toBeCloseTo(before, 6);
    // Joiners whose friends are all on the app: the country's rate rises with them, one call
    // weighing at most 1,000 numbers however big the book.
    const joiners = Array.from({ length: 20 }, (_, i) => t.call(person(8200 + i, { accountId: `joiner-${i}`, createdAt: T0 + 2 * DAY }), T0 + 2 * DAY + i * 60_000, t.randomNumbers(US_BLOCKS, 3000), { hitRate: 0.6 }));
    const risen = engineAfter(merge(organic, { events: joiners, signups: [], accounts: joiners.map((e) => e.accountId) }), at, 1000).store.countryHitRate('US', at);
    expect(risen).toBeGreaterThan(before + 0.1);
    expect(risen).toBeLessThan(0.6);
  });
});

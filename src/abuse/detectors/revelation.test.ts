import { describe, expect, it } from 'vitest';
import { DEFAULT_ABUSE_POLICY, type AnswersPolicy } from '../../policy/index.js';
import { AbuseEngine } from '../engine.js';
import type { LookupEvent } from '../events.js';
import { DAY, HOUR, T0, Traffic, US_BLOCKS, merge, organicScene, person, play, type Persona, type Scene } from '../synthetic.js';
import { NOVEL_MIN_EXCESS, POOLED_MIN_Z, REVELATION, novelAnswers, pooledAnswers, type RevealedFacts, type RevelationDetector } from './revelation.js';

const P: AnswersPolicy = DEFAULT_ABUSE_POLICY.realtime.answers!;

describe('novel answers (pure)', () => {
  it("slow-drip: two 20-number batches after its book, half of them registered, against a country's 0.07", () => {
    const v = novelAnswers([{ numbers: 20, fresh: 10 }, { numbers: 20, fresh: 10 }], 0.07, P);
    expect(v.excessive).toBe(true);
    expect(v.z).toBeGreaterThan(5);
  });

  it('one small batch is never enough: a small book hits high by chance', () => {
    expect(novelAnswers([{ numbers: 20, fresh: 10 }], 0.15, P).excessive).toBe(false);
    expect(10 - 20 * 0.15).toBeLessThan(NOVEL_MIN_EXCESS);
  });

  it("new circles at a book's rate (a new job, a class) are no excess, however many", () => {
    const circles = [30, 25, 40, 35].map((n, k) => ({ numbers: n, fresh: Math.round(n * 0.15) }));
    expect(novelAnswers(circles, 0.15, P).excessive).toBe(false);
    // The keenest circle the simulator's people brought at 20,000 accounts: 10 of 39 where books hit 0.14.
    expect(novelAnswers([{ numbers: 39, fresh: 10 }], 0.14, P).excessive).toBe(false);
  });

  it("the signal's price: two keen circles within four weeks (twice the country's rate each) are taken for a list", () => {
    // No organic account of the simulator did this (40 novel calls at 20,000 accounts, none a second);
    // a person who does is suspended and reinstated by an operator.
    expect(novelAnswers([{ numbers: 40, fresh: 13 }, { numbers: 30, fresh: 10 }], 0.15, P).excessive).toBe(true);
    // Sleepers at 20,000 accounts: new people at twice their country's rate, call after call.
    expect(novelAnswers([{ numbers: 134, fresh: 42 }, { numbers: 37, fresh: 8 }], 0.143, P).excessive).toBe(true);
    // At the book's ratio (2.75) the same sleepers passed.
    expect(novelAnswers([{ numbers: 134, fresh: 42 }, { numbers: 37, fresh: 8 }], 0.143, { ...P, scatteredRatio: P.ratio }).excessive).toBe(false);
  });
});

describe('the book and novel calls pooled (pure)', () => {
  it("slow-drip at 20,000 accounts: a drip account's book and first novel call, at the list's rate from the first call", () => {
    // slow-drip-00037 of that run: a 40-number book that found 19, then 20 numbers that found 12, in Japan at 0.133.
    const v = pooledAnswers({ asked: 40, fresh: 19 }, [{ asked: 20, fresh: 12 }], 0.133, P);
    expect(v.excessive).toBe(true);
    expect(v.z).toBeGreaterThan(POOLED_MIN_Z);
  });

  it("people: a re-sync after a new circle asks the whole book again, which holds the pool near the country's rate", () => {
    // The keenest organic novel calls of the same run: every one a full re-sync (asked = book + circle).
    expect(pooledAnswers({ asked: 25, fresh: 5 }, [{ asked: 44, fresh: 5 }], 0.131, P).excessive).toBe(false);
    expect(pooledAnswers({ asked: 53, fresh: 15 }, [{ asked: 87, fresh: 5 }], 0.132, P).excessive).toBe(false);
    expect(pooledAnswers({ asked: 4211, fresh: 431 }, [{ asked: 4211, fresh: 6 }], 0.156, P).excessive).toBe(false);
    // The small keen Israeli book (53 numbers, 15 on the app) then a circle sent alone by token update, 5 of 34.
    expect(pooledAnswers({ asked: 53, fresh: 15 }, [{ asked: 34, fresh: 5 }], 0.132, P).excessive).toBe(false);
    // An ordinary book and a keen circle sent alone (10 of 39 where books hit 0.14): only a novel call.
    expect(pooledAnswers({ asked: 200, fresh: 28 }, [{ asked: 39, fresh: 10 }], 0.14, P).excessive).toBe(false);
  });

  it("the signal's price: a tiny book nearly all on the app, then a keen circle sent alone, is taken for a list", () => {
    // Ten contacts, eight on the app, then a class of 20 sent by update with 6 on it, where books hit 0.13.
    // No organic account of the simulator did this (50 novel calls at 20,000 accounts, the pool at z 0.3 or less).
    const v = pooledAnswers({ asked: 10, fresh: 8 }, [{ asked: 20, fresh: 6 }], 0.13, P);
    expect(v.excessive).toBe(true);
  });
});

/** The default policy; the country's rate learned from a few thousand crafted numbers. */
function engineAfter(scene: Scene, now: number): AbuseEngine {
  const realtime = { ...DEFAULT_ABUSE_POLICY.realtime, answers: { ...P, minBaselineNumbers: 1000 } };
  const engine = new AbuseEngine({ policy: { ...DEFAULT_ABUSE_POLICY, mode: 'enforce', realtime } });
  play(scene, engine, now);
  return engine;
}

/** A call whose answer named exactly `revealed` (matched = how many). */
function named(t: Traffic, p: Persona, at: number, numbers: number, revealed: string[], o: { newNumbers?: number } = {}): LookupEvent {
  const e = t.call(p, at, t.randomNumbers(US_BLOCKS, numbers), { hitRate: revealed.length / numbers, ...o });
  return { ...e, matched: revealed.length, revealed };
}

const ids = (prefix: string, from: number, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${from + i}`);

function revelationOf(engine: AbuseEngine, id: string, now: number) {
  return engine.detectors.find((d) => d.name === REVELATION)!.findings(now).find((f) => f.accountIds[0] === id);
}

describe('revelation detector', () => {
  it('a list worked in small batches (slow-drip): its book and its first novel call are both at a list\'s rate, suspended at that call', async () => {
    const t = new Traffic(41);
    const organic = organicScene(t, 3);
    const p = person(9000, { accountId: 'drip', createdAt: T0 - 300 * DAY });
    // 20-number batches hours apart, 18 found where the crafted books hit 0.3: under the answers rule's minNumbers.
    const calls = [0, 1, 2].map((k) => named(t, p, T0 + (k * 3 * DAY) / 4, 20, ids('target', k * 18, 18)));
    const book = engineAfter(merge(organic, { events: calls.slice(0, 1), signups: [], accounts: ['drip'] }), T0 + DAY);
    expect(revelationOf(book, 'drip', T0 + DAY)).toBeUndefined();
    const engine = engineAfter(merge(organic, { events: calls.slice(0, 2), signups: [], accounts: ['drip'] }), T0 + 2 * DAY);
    const f = revelationOf(engine, 'drip', T0 + 2 * DAY)!;
    expect(f.signals).toEqual(['novel-answers', 'book-at-list-rate']);
    expect(f.explanation).toMatch(/its book and 1 call\(s\) after it named 36 accounts it had not found before, none of which has it in their books, from 40 numbers asked/);
    const decisions = await engine.evaluate(T0 + 2 * DAY);
    expect(decisions.find((d) => d.accountIds.includes('drip'))?.action).toBe('suspend-account');
  });

  it('a keen new circle after an ordinary book is a novel call at a list\'s rate: it challenges, the second suspends', async () => {
    const t = new Traffic(46);
    const organic = organicScene(t, 3);
    const p = person(9005, { accountId: 'keen', createdAt: T0 - 300 * DAY });
    // A 200-number book at a book's rate, then two 20-number calls 18 of which were there all along.
    const calls = [named(t, p, T0, 200, ids('friend', 0, 40)), ...[1, 2].map((k) => named(t, p, T0 + k * DAY, 20, ids('target', k * 18, 18)))];
    const first = engineAfter(merge(organic, { events: calls.slice(0, 2), signups: [], accounts: ['keen'] }), T0 + 1.5 * DAY);
    const c = revelationOf(first, 'keen', T0 + 1.5 * DAY)!;
    expect(c.signals).toEqual(['novel-answers']);
    expect(c.score).toBeLessThan(DEFAULT_ABUSE_POLICY.actions.suspendAccount.score);
    expect(c.score).toBeGreaterThanOrEqual(DEFAULT_ABUSE_POLICY.actions.challenge.score);
    const after = engineAfter(merge(organic, { events: calls, signups: [], accounts: ['keen'] }), T0 + 3 * DAY);
    const f = revelationOf(after, 'keen', T0 + 3 * DAY)!;
    expect(f.signals).toEqual(['novel-answers', 'unreciprocated']);
    expect(f.explanation).toMatch(/2 call\(s\) after its book named 36 accounts/);
    const decisions = await after.evaluate(T0 + 3 * DAY);
    expect(decisions.find((d) => d.accountIds.includes('keen'))?.action).toBe('suspend-account');
  });

  it('a person re-sending one book (updates, a reinstall, a second phone) names the same friends: nothing, however often', () => {
    const t = new Traffic(42);
    const organic = organicScene(t, 3);
    const p = person(9001, { accountId: 'resyncer' });
    const friends = ids('friend', 0, 60);
    const calls = [named(t, p, T0, 200, friends)];
    // Updates: the token's previous set names the book again, plus one added contact on the app.
    for (let k = 1; k <= 6; k++) calls.push(named(t, p, T0 + k * 8 * HOUR, 3, [...friends, `added-${k}`], { newNumbers: 3 }));
    calls.push(named(t, p, T0 + 2 * DAY + 12 * HOUR, 200, friends));
    const engine = engineAfter(merge(organic, { events: calls, signups: [], accounts: ['resyncer'] }), T0 + 3 * DAY);
    expect(revelationOf(engine, 'resyncer', T0 + 3 * DAY)).toBeUndefined();
  });

  it("friends who joined after the caller's book (a launch day) and friends who have the caller in their books are not novel", () => {
    const t = new Traffic(43);
    const organic = organicScene(t, 3);
    const p = person(9002, { accountId: 'early', createdAt: T0 - DAY });
    const calls: LookupEvent[] = [named(t, p, T0, 150, ids('old', 0, 20))];
    // Fifty-four friends join the next day; the early user's syncs find them, 27 of 30 numbers each.
    const joiners = ids('joiner', 0, 54).map((id, i) => person(9100 + i, { accountId: id, createdAt: T0 + DAY }));
    const signups = joiners.map((j) => t.signup(j));
    calls.push(named(t, p, T0 + 2 * DAY, 30, joiners.slice(0, 27).map((j) => j.accountId)));
    calls.push(named(t, p, T0 + 2 * DAY + 6 * HOUR, 30, joiners.slice(27).map((j) => j.accountId)));
    // Two circles of people who found the caller first (it is in their books).
    const circle = ids('mutual', 0, 54).map((id, i) => person(9200 + i, { accountId: id }));
    circle.forEach((c, i) => calls.push(named(t, c, T0 + 2 * HOUR + i * 60_000, 10, ['early'])));
    calls.push(named(t, p, T0 + 2 * DAY + 12 * HOUR, 30, circle.slice(0, 27).map((c) => c.accountId)));
    calls.push(named(t, p, T0 + 2 * DAY + 18 * HOUR, 30, circle.slice(27).map((c) => c.accountId)));
    calls.sort((a, b) => a.at - b.at);
    const engine = engineAfter(merge(organic, { events: calls, signups, accounts: ['early', ...joiners.map((j) => j.accountId)] }), T0 + 3 * DAY);
    expect(revelationOf(engine, 'early', T0 + 3 * DAY)).toBeUndefined();
  });

  it('the same calls naming people who were there all along and never found the caller: suspended', async () => {
    const t = new Traffic(44);
    const organic = organicScene(t, 3);
    const p = person(9003, { accountId: 'lister', createdAt: T0 - DAY });
    const calls = [named(t, p, T0, 150, ids('old', 0, 20)), named(t, p, T0 + 2 * DAY, 30, ids('aged', 0, 27)), named(t, p, T0 + 2 * DAY + 6 * HOUR, 30, ids('aged', 27, 27))];
    const engine = engineAfter(merge(organic, { events: calls, signups: [], accounts: ['lister'] }), T0 + 3 * DAY);
    expect(revelationOf(engine, 'lister', T0 + 3 * DAY)?.signals).toEqual(['novel-answers', 'unreciprocated']);
    const decisions = await engine.evaluate(T0 + 3 * DAY);
    expect(decisions.find((d) => d.accountIds.includes('lister'))?.action).toBe('suspend-account');
  });

  it('a new circle at a book rate (a new job) opens nothing', () => {
    const t = new Traffic(45);
    const organic = organicScene(t, 3);
    const p = person(9004, { accountId: 'newjob' });
    const calls = [named(t, p, T0, 200, ids('friend', 0, 60)), named(t, p, T0 + DAY, 40, ids('colleague', 0, 12)), named(t, p, T0 + 2 * DAY, 30, ids('classmate', 0, 9))];
    const engine = engineAfter(merge(organic, { events: calls, signups: [], accounts: ['newjob'] }), T0 + 3 * DAY);
    expect(revelationOf(engine, 'newjob', T0 + 3 * DAY)).toBeUndefined();
  });
});

describe('revelation memory', () => {
  // findings() skips its sweep of every caller until the oldest time it looks at is a memory old:
  // read often or seldom, the same calls must give the same findings, and forgetting must happen on time.
  it('the same findings whether read every few hours or only at the end, as calls and novel calls age out', () => {
    const t = new Traffic(46);
    const memory = new AbuseEngine().policy.features.longHalfLifeMs * 4;
    expect(memory).toBe(28 * DAY);
    const drip = person(9005, { accountId: 'drip', createdAt: T0 - 300 * DAY });
    const late = person(9006, { accountId: 'late', createdAt: T0 - 300 * DAY });
    const calls = [0, 1, 2].map((k) => named(t, drip, T0 + (k * 3 * DAY) / 4, 20, ids('target', k * 18, 18)));
    // A second account keeps calling, so the map is never empty: its old novel calls must drop while it stays.
    const lateCalls = [0, 1, 2].map((k) => named(t, late, T0 + 10 * DAY + k * DAY, 20, ids('other', k * 18, 18)));
    lateCalls.push(named(t, late, T0 + 10 * DAY + memory - DAY, 3, ['other-0'], { newNumbers: 3 }));
    const scene = merge({ events: [...calls, ...lateCalls].sort((a, b) => a.at - b.at), signups: [], accounts: ['drip', 'late'] });
    const checkpoints = [3 * DAY, memory, memory + 2 * DAY, 12 * DAY + memory + 12 * HOUR, 10 * DAY + 2 * memory].map((d) => T0 + d);
    const read = (every: number | undefined) => {
      const realtime = { ...DEFAULT_ABUSE_POLICY.realtime, answers: { ...P, minBaselineNumbers: 1000 } };
      const engine = new AbuseEngine({ policy: { ...DEFAULT_ABUSE_POLICY, mode: 'enforce', realtime } });
      const detector = engine.detectors.find((d) => d.name === REVELATION)!;
      const out: string[] = [];
      let e = 0;
      const events = scene.events;
      for (let now = T0, c = 0; c < checkpoints.length; now += every ?? checkpoints[c]! - now) {
        if (now > checkpoints[c]!) now = checkpoints[c]!;
        while (e < events.length && events[e]!.at <= now) engine.observe(events[e++]!);
        const found = detector.findings(now);
        if (now === checkpoints[c]) {
          out.push(found.map((f) => `${f.accountIds[0]} ${f.signals.join('+')} ${f.from}-${f.to}`).join(', '));
          c++;
        }
      }
      return out;
    };
    const often = read(6 * HOUR);
    expect(read(undefined)).toEqual(often);
    expect(often[0]).toMatch(/^drip novel-answers\+book-at-list-rate/);
    // The drip account's last call is a memory old: forgotten; the late account's novel calls suspend it.
    expect(often[2]).not.toMatch(/drip/);
    expect(often[2]).toMatch(/^late novel-answers\+book-at-list-rate/);
    // Its novel calls are a memory old while its last call is not: the account stays, its finding goes.
    expect(often[3]).toBe('');
    expect(often[4]).toBe('');
  });
});

describe('revelation across partitions', () => {
  // A partition's engine keeps some accounts (`owns`); what it asks of the others waits for resolve().
  const build = () => {
    const realtime = { ...DEFAULT_ABUSE_POLICY.realtime, answers: { ...P, minBaselineNumbers: 1000 } };
    const engine = new AbuseEngine({ policy: { ...DEFAULT_ABUSE_POLICY, mode: 'enforce', realtime }, owns: (id) => !id.startsWith('far-') });
    return { engine, detector: engine.detectors.find((d) => d.name === REVELATION) as RevelationDetector };
  };
  /** `namedAt`: when each account's answers first named the caller. */
  const facts = (created: Record<string, number>, namedAt: Record<string, number>): RevealedFacts => ({
    createdAt: async (idList) => new Map(idList.filter((id) => id in created).map((id) => [id, created[id]!])),
    firstNamed: async (_caller, idList) => new Map(idList.filter((id) => id in namedAt).map((id) => [id, namedAt[id]!])),
  });
  const WAIT = 10 * 60_000;

  it('a book reached with its own accounts, or a call that cannot reach five, waits for nothing', () => {
    const { engine, detector } = build();
    const t = new Traffic(47);
    const p = person(9010, { accountId: 'mixed' });
    engine.observe(named(t, p, T0, 150, [...ids('near', 0, 10), ...ids('far-a', 0, 10)]));
    engine.observe(named(t, p, T0 + HOUR, 10, [...ids('near', 10, 2), ...ids('far-b', 0, 2)]));
    expect(detector.pendingCalls).toBe(0);
  });

  it('novel calls naming the other partition\'s accounts are judged with what the facts say of them', async () => {
    const t = new Traffic(48);
    const p = person(9011, { accountId: 'caller' });
    const calls = [named(t, p, T0, 150, ids('near', 0, 20)), named(t, p, T0 + 2 * DAY, 30, ids('far-j', 0, 27)), named(t, p, T0 + 2 * DAY + HOUR, 30, ids('far-m', 0, 27))];
    const joinedAfter = Object.fromEntries(ids('far-j', 0, 27).map((id) => [id, T0 + DAY]));
    const run = async (f: RevealedFacts | undefined, stored: number | undefined, waited = 0) => {
      const { engine, detector } = build();
      play(merge(organicScene(t, 3), { events: calls, signups: [], accounts: ['caller'] }), engine, T0 + 3 * DAY);
      const waiting = detector.pendingCalls;
      await engine.resolveRevealed(f, stored, 0, WAIT);
      if (waited > 0) await engine.resolveRevealed(f, stored, waited, WAIT);
      return { waiting, left: detector.pendingCalls, finding: revelationOf(engine, 'caller', T0 + 3 * DAY) };
    };
    const mutual = Object.fromEntries(ids('far-m', 0, 27).map((id) => [id, T0 + HOUR]));
    // Friends who joined after the book, and friends who had found the caller: nothing.
    const friends = await run(facts(joinedAfter, mutual), T0 + 3 * DAY);
    expect(friends).toEqual({ waiting: 2, left: 0, finding: undefined });
    // Not yet stored by every partition: they wait, and after the wait they are judged on what is stored.
    expect(await run(facts(joinedAfter, mutual), T0 + DAY)).toEqual({ waiting: 2, left: 2, finding: undefined });
    expect(await run(facts(joinedAfter, mutual), undefined, WAIT - 1)).toEqual({ waiting: 2, left: 2, finding: undefined });
    expect(await run(facts(joinedAfter, mutual), undefined, WAIT)).toEqual({ waiting: 2, left: 0, finding: undefined });
    // Accounts that named the caller only after its call were strangers when it made it.
    const later = Object.fromEntries(ids('far-m', 0, 27).map((id) => [id, T0 + 2 * DAY + 2 * HOUR]));
    expect((await run(facts({}, later), T0 + 3 * DAY)).finding?.signals).toEqual(['novel-answers', 'unreciprocated']);
    // People who were there all along and never found it: the list is suspended, as with no facts at all.
    expect((await run(facts({}, {}), T0 + 3 * DAY)).finding?.signals).toEqual(['novel-answers', 'unreciprocated']);
    expect((await run(undefined, T0 + 3 * DAY)).finding?.signals).toEqual(['novel-answers', 'unreciprocated']);
  });

  it('a call that arrives before an earlier-stamped one (another node\'s clock) is judged once, after it', async () => {
    const { engine, detector } = build();
    const t = new Traffic(49);
    const p = person(9012, { accountId: 'skewed' });
    play(merge(organicScene(t, 3), { events: [named(t, p, T0, 150, ids('near', 0, 20))], signups: [], accounts: ['skewed'] }), engine, T0 + DAY);
    const a = named(t, p, T0 + 2 * DAY + 2000, 30, ids('far-x', 0, 27));
    const b = named(t, p, T0 + 2 * DAY, 30, ids('far-y', 0, 27));
    engine.observe(a);
    engine.observe(b);
    // Stored up to between them: neither is judged (B waits behind A, in arrival order).
    await engine.resolveRevealed(facts({}, {}), T0 + 2 * DAY + 1000, 0, WAIT);
    expect(detector.pendingCalls).toBe(2);
    await engine.resolveRevealed(facts({}, {}), T0 + 3 * DAY, 0, WAIT);
    expect(detector.pendingCalls).toBe(0);
    // Two novel calls, each once: the finding counts both, neither twice (20 in the book, then 54 fresh of 60 numbers).
    expect(revelationOf(engine, 'skewed', T0 + 3 * DAY)?.explanation).toMatch(/its book and 2 call\(s\) after it named 74 accounts/);
  });
});

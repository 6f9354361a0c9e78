import { afterEach, expect, it } from 'vitest';
import { fromRow } from '../src/abuse/pipeline.js';
import { ipIntelFromRanges } from '../src/net/index.js';
import { compilePolicy, DEFAULT_ABUSE_POLICY, type Policy } from '../src/policy/index.js';
import { importLines, mirrorAccount, syncFrom } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * The answers rule through HTTP (src/abuse/detectors/answers.ts): a sync whose new numbers match
 * far more than a book of the caller's country is refused after matching, charged, with nothing
 * answered; the engine hears of it and suspends; the rate every node judges by is the one the
 * engine writes to table hit_rates.
 */

const DAY = 86_400_000;
const HOME_IP = '198.51.100.7';
const intel = ipIntelFromRanges([{ cidr: '198.51.100.0/24', country: 'GB', asn: 64501, asName: 'Example Broadband' }]);

/**
 * A budget small enough to see the refused call's charge; the abuse engine enforcing, its British
 * rate learned after 100 numbers (the default wants 20,000 before it trusts a country's own).
 */
const POLICY: Policy = {
  name: 'answers',
  tiers: [{ name: 'standard' }],
  layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 200, refill: 200, per: '1d' } } }],
  abuse: { ...DEFAULT_ABUSE_POLICY, mode: 'enforce', realtime: { ...DEFAULT_ABUSE_POLICY.realtime, answers: { ...DEFAULT_ABUSE_POLICY.realtime.answers!, minBaselineNumbers: 100 } } },
};
/** The same, with an engine that never acts: what the request path does alone. */
const INERT: Policy = {
  ...POLICY,
  abuse: {
    ...POLICY.abuse!,
    actions: {
      ...DEFAULT_ABUSE_POLICY.actions,
      throttle: { score: 0.999, duration: '1h' },
      challenge: { score: 0.999, duration: '1h' },
      suspendAccount: { score: 0.999, minSignals: 5 },
      suspendCluster: { score: 0.999, minDetectors: 5, minMembers: 2 },
    },
  },
};

/**
 * UK mobiles 661 apart: no dense run for the real-time rule, and no more than 15 in one number block,
 * as in a book (a call with 20 or more in at most two blocks is a slice of a range, and the engine
 * learns no hit rate from it). Registered ones, and strangers in another range.
 */
const member = (i: number) => `+447911${100000 + i * 661}`;
const stranger = (i: number) => `+447912${100000 + i * 661}`;
const MEMBERS = 110;

describeEachDialect('answers beyond a book\'s', (dialect) => {
  let svc: TestService;
  afterEach(async () => svc?.stop());

  async function start(policy = POLICY): Promise<void> {
    svc = await startTestService(dialect, { trustedProxies: '127.0.0.1' }, { policy: compilePolicy(policy), ipIntel: intel });
    const members = Array.from({ length: MEMBERS }, (_, i) => ({ accountId: `m${i}`, handle: `m${i}`, createdAt: new Date(T0 - 400 * DAY).toISOString(), contactPoints: [{ kind: 'phone', value: member(i), purposes: ['discovery'], verified: true }] }));
    expect((await importLines(svc, members)).json()).toMatchObject({ accounts: MEMBERS, failed: 0 });
    for (const id of ['lister', 'person']) await mirrorAccount(svc, id, [], { createdAt: new Date(T0 - 3 * 365 * DAY).toISOString(), phoneRegion: 'GB' });
    // What the engine learned and wrote: British books hit 15%.
    await svc.ctx.db.kysely.insertInto('hit_rates').values({ country: 'GB', numbers: 1_000_000, matched: 150_000, updated_at: T0 }).execute();
  }

  const syncAs = (account: string, contacts: string[]) => syncFrom(svc, account, contacts, HOME_IP);

  const range = (n: number, f: (i: number) => string, from = 0) => Array.from({ length: n }, (_, i) => f(from + i));

  it('refuses a slice of a leaked list (100 of 150 registered) after matching: charged, nothing answered, recorded with the matches withheld', async () => {
    await start(INERT);
    const res = await syncAs('lister', [...range(100, member), ...range(50, stranger)]);
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.json().error).toMatchObject({ code: 'rate_limited', details: { scope: 'account' } });
    expect(res.json().error.message).toMatch(/matches far more numbers than an address book/);
    expect(res.body).not.toMatch(/accountId|"m\d+"/);

    // The refusal spent the call's 150 numbers: 100 more exceed the budget of 200.
    const next = await syncAs('lister', range(100, stranger, 50));
    expect(next.statusCode).toBe(429);
    expect(next.json().error.message).toMatch(/too many new numbers/);

    expect(await svc.ctx.events.flush()).toBe(true);
    const rows = await svc.ctx.db.kysely.selectFrom('lookup_events').selectAll().where('account_id', '=', 'lister').orderBy('at').execute();
    expect(rows[0]).toMatchObject({ outcome: 'refused', scope: 'account', new_numbers: 150, matched: 100, revealed: '[]' });
  });

  it('the engine hears the withheld matches and suspends the account: a decision every node enforces', async () => {
    await start();
    // A person's book first: the engine learns that British books hit 20%.
    expect((await syncAs('person', [...range(30, member), ...range(120, stranger)])).statusCode).toBe(200);
    expect((await syncAs('lister', [...range(100, member, 10), ...range(50, stranger, 300)])).statusCode).toBe(429);
    expect(await svc.ctx.events.flush()).toBe(true);
    // Handed over again and evaluated now, so the test need not wait for the consumer (redelivery is a no-op).
    const rows = await svc.ctx.db.kysely.selectFrom('lookup_events').selectAll().orderBy('at').execute();
    await svc.ctx.eventPipeline.process(rows.map(fromRow));
    await svc.ctx.abuse.evaluate(svc.clock.now());
    const decision = await svc.ctx.db.kysely.selectFrom('decisions').selectAll().where('subject', '=', 'lister').executeTakeFirst();
    expect(decision).toMatchObject({ action: 'suspend' });
    expect((await syncAs('lister', range(3, stranger, 400))).statusCode).toBe(403);
    expect((await syncAs('person', range(3, stranger, 500))).statusCode).toBe(200);
  });

  it("answers a new account's first sync whatever it hits: on a launch day a joiner's friends joined that week too", async () => {
    await start();
    await mirrorAccount(svc, 'joiner', [], { createdAt: new Date(T0 - DAY).toISOString(), phoneRegion: 'GB' });
    const res = await syncAs('joiner', [...range(100, member), ...range(50, stranger)]);
    expect(res.statusCode).toBe(200);
    expect(res.json().matches).toHaveLength(100);
  });

  it("judges a new account's later syncs: sleepers synced their fleet-mates for days, then asked a list's slice", async () => {
    await start(INERT);
    await mirrorAccount(svc, 'sleeper', [], { createdAt: new Date(T0 - DAY).toISOString(), phoneRegion: 'GB' });
    expect((await syncAs('sleeper', range(8, stranger, 600))).statusCode).toBe(200);
    const res = await syncAs('sleeper', [...range(100, member), ...range(50, stranger)]);
    expect(res.statusCode).toBe(429);
    expect(res.json().error.message).toMatch(/matches far more numbers than an address book/);
    expect(res.body).not.toMatch(/accountId|"m\d+"/);
  });

  it("answers a person's book: 30 friends among 150 numbers, twice the country's rate, is no excess", async () => {
    await start();
    const res = await syncAs('person', [...range(30, member), ...range(120, stranger)]);
    expect(res.statusCode).toBe(200);
    expect(res.json().matches).toHaveLength(30);
  });

  it('the engine writes the rate it learns from the population to hit_rates, for every node', async () => {
    await start();
    expect((await syncAs('person', [...range(30, member), ...range(120, stranger)])).statusCode).toBe(200);
    expect(await svc.ctx.events.flush()).toBe(true);
    const rows = await svc.ctx.db.kysely.selectFrom('lookup_events').selectAll().execute();
    await svc.ctx.eventPipeline.process(rows.map(fromRow));
    await svc.ctx.abuse.evaluate(svc.clock.now());
    const gb = await svc.ctx.db.kysely.selectFrom('hit_rates').selectAll().where('country', '=', 'GB').executeTakeFirstOrThrow();
    expect(Number(gb.numbers)).toBeCloseTo(150, 3);
    expect(Number(gb.matched)).toBeCloseTo(30, 3);
  });
});

/** Valid mobiles of ten countries, spaced so no batch holds a dense run. */
const MOBILE: Record<string, (i: number) => string> = {
  AE: (i) => `+97150${1000000 + i * 7919}`,
  IN: (i) => `+9198123${10000 + i * 613}`,
  PK: (i) => `+92300${1000000 + i * 7919}`,
  PH: (i) => `+63917${1000000 + i * 7919}`,
  EG: (i) => `+2010${10000000 + i * 7919}`,
  DE: (i) => `+49151${20000000 + i * 7919}`,
  FR: (i) => `+336${12000000 + i * 7919}`,
  US: (i) => `+1415555${String(1000 + i * 37).slice(-4)}`,
  LB: (i) => `+9613${100000 + i * 613}`,
};
const ABROAD = ['IN', 'PK', 'PH', 'EG', 'DE', 'FR', 'US', 'LB'];

describeEachDialect('international books and scattered lists', (dialect) => {
  let svc: TestService;
  afterEach(async () => svc?.stop());

  /** 8 members in each of the ten countries; UAE books hit 15%. */
  async function start(): Promise<void> {
    svc = await startTestService(dialect, { trustedProxies: '127.0.0.1' }, { policy: compilePolicy(POLICY), ipIntel: intel });
    const points = Object.entries(MOBILE).flatMap(([c, f]) => Array.from({ length: 8 }, (_, i) => ({ c, i, value: f(i) })));
    const imported = await importLines(
      svc,
      points.map((p) => ({ accountId: `m-${p.c}-${p.i}`, handle: `m_${p.c}_${p.i}`, createdAt: new Date(T0 - 400 * DAY).toISOString(), contactPoints: [{ kind: 'phone', value: p.value, purposes: ['discovery'], verified: true }] })),
    );
    expect(imported.json()).toMatchObject({ accounts: points.length, failed: 0 });
    for (let k = 0; k < 20; k++) await mirrorAccount(svc, `expat${k}`, [], { createdAt: new Date(T0 - 2 * 365 * DAY).toISOString(), phoneRegion: 'AE' });
    await mirrorAccount(svc, 'lister', [], { createdAt: new Date(T0 - 3 * 365 * DAY).toISOString(), phoneRegion: 'AE' });
    await svc.ctx.db.kysely.insertInto('hit_rates').values({ country: 'AE', numbers: 1_000_000, matched: 150_000, updated_at: T0 }).execute();
  }

  const syncAs = (account: string, contacts: string[]) => syncFrom(svc, account, contacts, HOME_IP);

  it("answers every one of 20 expats whose books mix the UAE with friends in eight other countries (the scatter rule refused such books)", async () => {
    await start();
    for (let k = 0; k < 20; k++) {
      // 12 numbers at home, 6 in each of eight countries abroad: 60 numbers, 80% foreign, no country above 10%.
      const book = [...Array.from({ length: 12 }, (_, i) => MOBILE.AE!(100 + k * 20 + i))];
      for (const c of ABROAD) for (let i = 0; i < 6; i++) book.push(MOBILE[c]!(100 + k * 20 + i));
      // A few of them are friends on the app, at about the country's rate.
      book[0] = MOBILE.AE!(k % 8);
      book[20] = MOBILE.PK!(k % 8);
      book[40] = MOBILE.DE!(k % 8);
      const res = await syncAs(`expat${k}`, book);
      expect(res.statusCode, `expat${k}: ${res.body}`).toBe(200);
      expect(res.json().matches.length).toBe(3);
    }
  });

  it('refuses the same shape when it is a list: scattered over nine countries and hitting far above a book', async () => {
    await start();
    const list = Object.values(MOBILE).flatMap((f) => [...Array.from({ length: 6 }, (_, i) => f(i)), f(500), f(501)]);
    const res = await syncAs('lister', list);
    expect(res.statusCode).toBe(429);
    expect(res.json().error).toMatchObject({ code: 'rate_limited', details: { scope: 'account' } });
    expect(res.body).not.toMatch(/accountId/);
  });
});

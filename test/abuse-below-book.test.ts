import { afterEach, expect, it } from 'vitest';
import { ipIntelFromRanges } from '../src/net/index.js';
import { compilePolicy, DEFAULT_ABUSE_POLICY, type Policy } from '../src/policy/index.js';
import { importLines, mirrorAccount, syncFrom } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * Answers below a book's through HTTP (src/abuse/detectors/below-book.ts): a sync whose new
 * foreign numbers find far fewer members than books of their countries do (random numbers, the
 * census pattern) is refused after matching, charged, nothing answered; books are answered,
 * an expat's, a launch-day joiner's whose relatives abroad are not on the app, and numbers of a
 * country whose books were never seen.
 */

const DAY = 86_400_000;
const HOME_IP = '198.51.100.7';
const intel = ipIntelFromRanges([{ cidr: '198.51.100.0/24', country: 'GB', asn: 64501, asName: 'Example Broadband' }]);

/** A budget that lets a 320-number batch through and shows its charge; the engine enforcing, the default rules. */
const POLICY: Policy = {
  name: 'below-book',
  tiers: [{ name: 'standard' }],
  layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 600, refill: 600, per: '1d' } } }],
  abuse: { ...DEFAULT_ABUSE_POLICY, mode: 'enforce' },
};

/** Valid mobiles of eight countries, spaced so no batch holds a dense run or a dense block. */
const MOBILE: Record<string, (i: number) => string> = {
  AE: (i) => `+97150${1000000 + i * 7919}`,
  PK: (i) => `+92300${1000000 + i * 7919}`,
  PH: (i) => `+63917${1000000 + i * 7919}`,
  EG: (i) => `+2010${10000000 + i * 7919}`,
  DE: (i) => `+49151${20000000 + i * 7919}`,
  FR: (i) => `+336${12000000 + i * 7919}`,
  BR: (i) => `+55119${80000000 + i * 7919}`,
  TR: (i) => `+90532${1000000 + i * 7919}`,
};
const ABROAD = ['PK', 'PH', 'EG', 'DE', 'FR', 'BR', 'TR'];
/** Members per country: numbers 0..MEMBERS-1 of each are on the app. */
const MEMBERS = 8;

describeEachDialect('answers below a book', (dialect) => {
  let svc: TestService;
  afterEach(async () => svc?.stop());

  /** 8 members in each country; books of every country but Turkey hit 15% (Turkey's were never seen). */
  async function start(): Promise<void> {
    svc = await startTestService(dialect, { trustedProxies: '127.0.0.1' }, { policy: compilePolicy(POLICY), ipIntel: intel });
    const points = Object.entries(MOBILE).flatMap(([c, f]) => Array.from({ length: MEMBERS }, (_, i) => ({ c, i, value: f(i) })));
    const imported = await importLines(
      svc,
      points.map((p) => ({ accountId: `m-${p.c}-${p.i}`, handle: `m_${p.c}_${p.i}`, createdAt: new Date(T0 - 400 * DAY).toISOString(), contactPoints: [{ kind: 'phone', value: p.value, purposes: ['discovery'], verified: true }] })),
    );
    expect(imported.json()).toMatchObject({ accounts: points.length, failed: 0 });
    await mirrorAccount(svc, 'census', [], { createdAt: new Date(T0 - 365 * DAY).toISOString(), phoneRegion: 'GB' });
    await mirrorAccount(svc, 'expat', [], { createdAt: new Date(T0 - 2 * 365 * DAY).toISOString(), phoneRegion: 'AE' });
    await mirrorAccount(svc, 'joiner', [], { createdAt: new Date(T0 - DAY).toISOString(), phoneRegion: 'AE' });
    await mirrorAccount(svc, 'fresh-census', [], { createdAt: new Date(T0 - DAY).toISOString(), phoneRegion: 'GB' });
    const rows = ['AE', ...ABROAD.filter((c) => c !== 'TR')].map((country) => ({ country, numbers: 1_000_000, matched: 150_000, updated_at: T0 }));
    await svc.ctx.db.kysely.insertInto('hit_rates').values(rows).execute();
  }

  const syncAs = (account: string, contacts: string[]) => syncFrom(svc, account, contacts, HOME_IP);

  /** `per` numbers of each country from `from`, the first `members` of the batch's countries being members. */
  const spread = (countries: readonly string[], per: number, from: number, members = 0): string[] =>
    countries.flatMap((c, k) => Array.from({ length: per }, (_, i) => MOBILE[c]!(i < members && k === 0 ? i : from + i)));

  it("refuses a census batch (random numbers over seven countries, 1 found where books find 50): nothing answered, recorded as refused with its numbers and the match withheld", async () => {
    await start();
    const batch = spread(ABROAD.filter((c) => c !== 'TR'), 56, 100, 1);
    const res = await syncAs('census', batch);
    expect(res.statusCode).toBe(429);
    expect(res.json().error).toMatchObject({ code: 'rate_limited', details: { scope: 'account' } });
    expect(res.json().error.message).toMatch(/far fewer numbers than an address book/);
    expect(res.body).not.toMatch(/accountId|m-/);
    expect(await svc.ctx.events.flush()).toBe(true);
    const rows = await svc.ctx.db.kysely.selectFrom('lookup_events').selectAll().where('account_id', '=', 'census').orderBy('at').execute();
    expect(rows[0]).toMatchObject({ outcome: 'refused', scope: 'account', new_numbers: 336, matched: 1, revealed: '[]' });
  });

  it("answers an expat's book of 344 numbers abroad, which finds friends at its countries' rate", async () => {
    await start();
    // 48 numbers in each of seven countries abroad (8 of them friends on the app in each), 20 at home.
    const book = [...Array.from({ length: 20 }, (_, i) => MOBILE.AE!(200 + i)), ...ABROAD.flatMap((c) => Array.from({ length: 48 }, (_, i) => MOBILE[c]!(i < MEMBERS ? i : 300 + i)))];
    const res = await syncAs('expat', book);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().matches).toHaveLength(7 * MEMBERS);
  });

  it("answers a launch-day joiner whose 300 numbers abroad, in one country, find no one: a new account is judged only when its batch is scattered too", async () => {
    await start();
    const book = [...Array.from({ length: 250 }, (_, i) => MOBILE.AE!(500 + i)), ...Array.from({ length: 300 }, (_, i) => MOBILE.PK!(500 + i))];
    const res = await syncAs('joiner', book);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().matches).toHaveLength(0);
    // A new account's census batch is scattered, and refused.
    const census = await syncAs('fresh-census', spread(ABROAD.filter((c) => c !== 'TR'), 56, 100));
    expect(census.statusCode).toBe(429);
    expect(census.json().error.message).toMatch(/far fewer numbers than an address book/);
  });

  it('does not judge numbers of a country whose books were never seen: 300 Turkish numbers finding no one are answered', async () => {
    await start();
    const res = await syncAs('census', spread(['TR'], 300, 100));
    expect(res.statusCode, res.body).toBe(200);
    // The same from Pakistan, whose books hit 15%, is refused: one foreign country is enough for an aged account.
    const pk = await syncAs('expat', spread(['PK'], 300, 100));
    expect(pk.statusCode).toBe(429);
  });
});

import { Migrator } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { fromRow } from '../src/abuse/pipeline.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { migrations } from '../src/db/migrations/index.js';
import { normalisePhone } from '../src/directory/phone.js';
import { compilePolicy, type Policy } from '../src/policy/index.js';
import { importLines, mirrorAccount, NUMBERS, sync } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * The account's own phone country, derived from its verified phone contact points when the app
 * sends no phoneRegion: the limits' tier, the real-time rules and the lookup events all see it.
 */

/** n distinct valid GB mobile numbers spread over many blocks: a domestic address book. */
function domesticBook(n: number, seed: number): string[] {
  const out = new Set<string>();
  let x = seed;
  while (out.size < n) {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    const r = normalisePhone(`+447${String(x % 1_000_000_000).padStart(9, '0')}`);
    if (r.ok) out.add(r.e164);
  }
  return [...out];
}

const US_2 = '+16502530000';
// A +1 number libphonenumber resolves to Canada (Ottawa), not the calling code's main country.
const CA = '+16135550123';

/** A call succeeds only for accounts whose phone country is GB. */
const GB_ONLY: Policy = {
  name: 'gb-only',
  tiers: [{ name: 'no-phone', when: { noPhoneCountry: true } }, { name: 'gb', when: { phoneCountryIn: ['GB'] } }, { name: 'elsewhere' }],
  layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 0, refill: 0, per: '1d' }, gb: { burst: 1000, refill: 1000, per: '1h' } } }],
};

describeEachDialect('the account phone country', (dialect) => {
  let svc: TestService;
  afterEach(async () => svc?.stop());

  const account = async (id: string) => (await svc.app.inject({ method: 'GET', url: `/internal/v1/accounts/${id}`, headers: svc.internal })).json();
  const patch = (id: string, cp: string, body: Record<string, unknown>) =>
    svc.app.inject({ method: 'PATCH', url: `/internal/v1/accounts/${id}/contact-points/${cp}`, headers: svc.internal, payload: body });
  const del = (id: string, cp: string) => svc.app.inject({ method: 'DELETE', url: `/internal/v1/accounts/${id}/contact-points/${cp}`, headers: svc.internal });
  const syncAs = async (id: string, contacts: string[]) => {
    svc.clock.advance(1000);
    return sync(svc, await svc.tokenFor(id), { region: 'GB', contacts });
  };

  it('tiers a new user with a verified 2FA phone and no phoneRegion by that phone under the default policy', async () => {
    svc = await startTestService(dialect);
    await mirrorAccount(svc, 'newcomer', [{ value: '07911 123456', region: 'GB', purposes: ['two_factor'] }]);
    await mirrorAccount(svc, 'unverified', [{ value: NUMBERS.gbB, purposes: ['two_factor'], verified: false }]);
    // 800 numbers: over the no-phone tier's 500, well under a new user's 5,000.
    const first = await syncAs('newcomer', domesticBook(800, 1));
    expect(first.statusCode, first.body).toBe(200);
    const refused = await syncAs('unverified', domesticBook(800, 2));
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error.details.scope).toBe('account');

    expect(await svc.ctx.events.flush()).toBe(true);
    const events = (await svc.ctx.db.kysely.selectFrom('lookup_events').selectAll().orderBy('at').execute()).map(fromRow);
    // +44 7911 1xxxxx is a Guernsey range: the region is the one libphonenumber resolves.
    expect(events.map((e) => [e.accountId, e.outcome, e.phoneRegion])).toEqual([
      ['newcomer', 'allowed', 'GG'],
      ['unverified', 'refused', undefined],
    ]);
    expect(events[0]!.tier).toBe('new');
    expect(await account('newcomer')).toMatchObject({ phoneRegion: null, derivedPhoneRegion: 'GG' });
    expect(await account('unverified')).toMatchObject({ phoneRegion: null, derivedPhoneRegion: null });
  });

  it('follows contact points as they are added, re-purposed, unverified and deleted; an explicit phoneRegion wins', async () => {
    svc = await startTestService(dialect, {}, { policy: compilePolicy(GB_ONLY) });
    const [gb] = await mirrorAccount(svc, 'mover', [{ value: NUMBERS.gbB, purposes: ['two_factor'] }]);
    const book = domesticBook(40, 3);
    const ok = async (expected: number, region: string | null) => {
      expect((await syncAs('mover', book.splice(0, 2))).statusCode).toBe(expected);
      expect((await account('mover')).derivedPhoneRegion).toBe(region);
    };
    await ok(200, 'GB');
    // A newer verified discovery phone elsewhere: the older preferred one still decides.
    const [us] = await mirrorAccount(svc, 'mover', [{ value: US_2, purposes: ['discovery'] }]);
    await ok(200, 'GB');
    // The GB phone is kept for recovery only: a two_factor or discovery phone comes first.
    expect((await patch('mover', gb!, { purposes: ['recovery'] })).statusCode).toBe(200);
    await ok(429, 'US');
    // The US phone is no longer verified: only verified phones count.
    expect((await patch('mover', us!, { verified: false })).statusCode).toBe(200);
    await ok(200, 'GB');
    expect((await del('mover', gb!)).statusCode).toBe(204);
    await ok(429, null);
    expect((await patch('mover', us!, { verified: true })).statusCode).toBe(200);
    await ok(429, 'US');
    // The app's own value wins over the derived one, and clearing it hands back to the derived one.
    await mirrorAccount(svc, 'mover', [], { phoneRegion: 'GB' });
    await ok(200, 'US');
    expect((await account('mover')).phoneRegion).toBe('GB');
    await mirrorAccount(svc, 'mover', [], { phoneRegion: null });
    await ok(429, 'US');
    // +1 is shared: the region libphonenumber resolves for the number, not the calling code's main one.
    await mirrorAccount(svc, 'canadian', [{ value: CA, purposes: ['two_factor'] }]);
    expect((await account('canadian')).derivedPhoneRegion).toBe('CA');
    // Emails never count.
    await mirrorAccount(svc, 'emailer', [{ kind: 'email', value: 'e@example.com', purposes: ['two_factor'] }]);
    expect((await account('emailer')).derivedPhoneRegion).toBeNull();
  });

  it('is derived on NDJSON import and follows a re-import', async () => {
    svc = await startTestService(dialect, {}, { policy: compilePolicy(GB_ONLY) });
    const post = (lines: unknown[]) => importLines(svc, lines);
    const phone = (value: string, purposes: string[], verified = true) => ({ kind: 'phone', value, purposes, verified });
    const res = await post([
      { accountId: 'imp-gb', handle: 'gb', contactPoints: [phone(NUMBERS.usA, ['recovery']), phone(NUMBERS.gbB, ['two_factor'])] },
      { accountId: 'imp-unverified', handle: 'unv', contactPoints: [phone(NUMBERS.gbB, ['two_factor'], false)] },
      { accountId: 'imp-explicit', handle: 'exp', phoneRegion: 'GB', contactPoints: [phone(NUMBERS.deA, ['two_factor'])] },
    ]);
    expect(res.json()).toMatchObject({ accounts: 3, failed: 0 });
    expect((await account('imp-gb')).derivedPhoneRegion).toBe('GB');
    expect((await account('imp-unverified')).derivedPhoneRegion).toBeNull();
    expect((await account('imp-explicit')).derivedPhoneRegion).toBe('DE');
    expect((await syncAs('imp-gb', domesticBook(2, 4))).statusCode).toBe(200);
    expect((await syncAs('imp-unverified', domesticBook(2, 5))).statusCode).toBe(429);
    expect((await syncAs('imp-explicit', domesticBook(2, 6))).statusCode).toBe(200);

    // A re-import that leaves the GB phone unverified hands over to the US one, and the cache follows.
    await post([{ accountId: 'imp-gb', handle: 'gb', contactPoints: [phone(NUMBERS.gbB, ['two_factor'], false)] }]);
    expect((await account('imp-gb')).derivedPhoneRegion).toBe('US');
    expect((await syncAs('imp-gb', domesticBook(2, 7))).statusCode).toBe(429);
  });

  it('a database from before the migration keeps its rows; a point mirrored again gets its region', async () => {
    svc = await startTestService(dialect, {}, { policy: compilePolicy(GB_ONLY) });
    const [cp] = await mirrorAccount(svc, 'veteran', [{ value: NUMBERS.gbB, purposes: ['two_factor'] }]);
    const db = svc.ctx.db.kysely;
    const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
    expect((await migrator.migrateTo('20261205000000-events-handled-flag')).error).toBeUndefined();
    await migrateToLatest(db);
    svc.ctx.directory.changed(['veteran']);
    // What an earlier release left: the point and its hash, no region, nothing derived.
    expect(await db.selectFrom('contact_points').select(['id', 'region']).execute()).toEqual([{ id: cp, region: null }]);
    expect((await account('veteran')).derivedPhoneRegion).toBeNull();
    expect((await syncAs('veteran', domesticBook(2, 8))).statusCode).toBe(429);

    const again = await svc.app.inject({
      method: 'POST',
      url: '/internal/v1/accounts/veteran/contact-points',
      headers: svc.internal,
      payload: { kind: 'phone', value: NUMBERS.gbB, purposes: ['two_factor'], verified: true },
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.details).toEqual({ id: cp });
    expect((await account('veteran')).derivedPhoneRegion).toBe('GB');
    expect((await syncAs('veteran', domesticBook(2, 9))).statusCode).toBe(200);
  });
});

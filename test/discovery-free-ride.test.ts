import { afterEach, expect, it, vi } from 'vitest';
import { compilePolicy, type Policy } from '../src/policy/index.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * Issue 13, point 1: numbers checked for free through `previous`. Each test is the attack as it
 * was reproduced over HTTP against the earlier main, which answered every planted account for free.
 */
const DAY = 86_400_000;

/** A budget of 10 new numbers an hour per account: the attack asks for thousands. */
const policy: Policy = {
  name: 'free-ride',
  tiers: [{ name: 'standard' }],
  layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 10, refill: 10, per: '1h' } } }],
};

/** GB mobiles 07400 550000.. in national format, and their E.164 forms. */
const national = (from: number, n: number) => Array.from({ length: n }, (_, i) => `07400 ${String(550_000 + from + i).padStart(6, '0')}`);
const e164 = (i: number) => `+447400${String(550_000 + i).padStart(6, '0')}`;
const PLANTED = [3, 17, 250, 999];

describeEachDialect('no number is answered for free through previous', (dialect) => {
  let svc: TestService;
  afterEach(async () => svc?.stop());

  async function start() {
    svc = await startTestService(dialect, {}, { policy: compilePolicy(policy) });
    for (const i of PLANTED) await mirrorAccount(svc, `planted-${i}`, [{ value: e164(i), purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'scraper', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
  }

  async function call(payload: Record<string, unknown>) {
    const token = await svc.tokenFor('scraper');
    return svc.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${token}` }, payload });
  }

  it('a token earned on entries invalid without a region covers nothing once a region is given', async () => {
    await start();
    const strings = national(0, 1000);
    const first = await call({ contacts: strings });
    expect(first.statusCode).toBe(200);
    expect(first.json().invalid).toHaveLength(1000);

    const second = await call({ region: 'GB', previous: { token: first.json().token, contacts: strings } });
    // 1,000 valid numbers are new under GB, and the budget is 10: refused, nothing answered.
    expect(second.statusCode).toBe(429);
    expect(second.body).not.toContain('planted');
  });

  it('numbers of previous that no token paid for are charged, guarded and recorded', async () => {
    await start();
    const strings = national(0, 20);
    const first = await call({ contacts: strings });
    expect(first.statusCode).toBe(200);
    // 20 new under GB, 10 in the bucket: still refused.
    expect((await call({ region: 'GB', previous: { token: first.json().token, contacts: strings } })).statusCode).toBe(429);
    // 8 fit: they are answered, charged and in the event.
    const few = national(0, 8);
    const t = (await call({ contacts: few })).json().token as string;
    const paid = await call({ region: 'GB', previous: { token: t, contacts: few } });
    expect(paid.statusCode).toBe(200);
    expect(paid.json().previousMatches).toEqual([{ index: 3, accountId: 'planted-3', handle: 'h_planted3' }]);
    // Only 2 left in the bucket.
    expect((await call({ region: 'GB', contacts: national(100, 3) })).statusCode).toBe(429);

    await svc.ctx.events.flush();
    const rows = await svc.ctx.db.kysely.selectFrom('lookup_events').selectAll().where('account_id', '=', 'scraper').where('new_numbers', '=', 8).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: 'allowed', numbers: 8, new_numbers: 8, matched: 1, revealed: '["planted-3"]' });
  });

  it('a token issued under one region does not cover the same strings under another', async () => {
    await start();
    // "7400 550003" is a GB mobile under GB; under another region it is another number (or none).
    const strings = national(0, 8);
    const first = await call({ region: 'GB', contacts: strings });
    expect(first.json().matches).toHaveLength(1);
    // Re-synced under US: every entry that is valid there is new and charged; the GB answers are not repeated for free.
    const other = await call({ region: 'US', contacts: [], previous: { token: first.json().token, contacts: strings } });
    expect(other.statusCode).toBe(200);
    expect(other.json().previousMatches).toEqual([]);
    // And back under GB with the US token: covered values are the US ones, so the GB ones cost again.
    const back = await call({ region: 'GB', contacts: [], previous: { token: other.json().token, contacts: strings } });
    expect(back.statusCode).toBe(429);
  });

  it('an exhausted account gets nothing through a previous it never paid for', async () => {
    await start();
    expect((await call({ region: 'GB', contacts: national(500, 10) })).statusCode).toBe(200);
    const strings = national(0, 1000);
    const t = (await call({ contacts: strings })).json().token as string;
    const res = await call({ region: 'GB', previous: { token: t, contacts: strings } });
    expect(res.statusCode).toBe(429);
    expect(res.body).not.toContain('planted');
  });

  it('an expired token, or one spelt other than as issued, is answered like an unknown one', async () => {
    await start();
    const strings = ['+447400550003'];
    const t = (await call({ contacts: strings })).json().token as string;
    for (const bad of [Buffer.from(t, 'base64url').toString('base64'), `${t}=`]) {
      const res = await call({ contacts: [], previous: { token: bad, contacts: strings } });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('invalid_token');
    }
    expect((await call({ contacts: [], previous: { token: t, contacts: strings } })).statusCode).toBe(200);
    svc.clock.advance(91 * DAY);
    const expired = await call({ contacts: [], previous: { token: t, contacts: strings } });
    expect(expired.statusCode).toBe(400);
    expect(expired.json().error.code).toBe('invalid_token');
    expect(expired.body).not.toContain('planted');
  });

  it('the real-time guard sees every number the call answers for, previous included', async () => {
    await start();
    const guard = vi.spyOn(svc.ctx.abuse, 'guard');
    const book = national(0, 6);
    const t = (await call({ region: 'GB', contacts: book })).json().token as string;
    await call({ region: 'GB', contacts: national(6, 2), previous: { token: t, contacts: book } });
    const seen = guard.mock.calls.at(-1)![1];
    expect([...seen].sort()).toEqual(Array.from({ length: 8 }, (_, i) => e164(i)).sort());
  });
});

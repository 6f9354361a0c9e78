import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JwtConfig } from '../src/config/config.js';
import { signDevToken } from '../src/http/auth/jwt.js';
import { OWN_EXPOSURES_LIMITS } from '../src/incidents/notices-own.js';
import type { Service } from '../src/main.js';
import { ManualClock } from '../src/util/clock.js';
import { uniquePrefix } from './helpers/redis.js';
import { SERVICE_KEY, T0 } from './helpers/service.js';
import { describeSharedNodes, startSharedNodes, type SharedNodes } from './helpers/shared-nodes.js';

/**
 * Exposure notices scaled out: two serving nodes on one PostgreSQL and one Redis. Both nodes
 * notifying the same incident at once write each notice and its webhook once; either node answers
 * `GET /v1/me/exposures` with the same bytes; and the endpoint's budget lives in Redis, so calls
 * spread over both nodes get, in total, what one node gives.
 */

const VICTIMS = ['victim-1', 'victim-2', 'victim-3'];

describeSharedNodes('exposure notices on two nodes over Redis and PostgreSQL', () => {
  const clock = new ManualClock(T0);
  const nodes: Service[] = [];
  const prefix = uniquePrefix('notices-multinode');
  let shared: SharedNodes | undefined;
  let jwt: JwtConfig;

  const me = async (node: number, accountId: string) =>
    nodes[node]!.app.inject({ method: 'GET', url: '/v1/me/exposures', headers: { authorization: `Bearer ${await signDevToken(jwt, accountId, clock.now(), 3600)}` } });

  beforeAll(async () => {
    shared = await startSharedNodes({ prefix, clock, seedBase: 20 });
    nodes.push(...shared.nodes);
    jwt = shared.jwt;
    for (const id of [...VICTIMS, 'bystander', 'poller', 'scraper-a', 'scraper-b']) {
      const put = await nodes[0]!.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers: { authorization: `Bearer ${SERVICE_KEY}` }, payload: { handle: id.replace('-', '_') } });
      expect(put.statusCode).toBe(201);
    }
    // The exposures as the engine records them (its own path, from real calls, is test/incident-e2e.test.ts).
    const db = nodes[0]!.ctx.db.kysely;
    await db.insertInto('campaigns').values({ id: 'cmp_mn', cluster_id: 'cl_mn', detected_at: T0, first_seen: T0, last_seen: T0, status: 'open', score: 0.9, summary: '{}', evidence: '{}', updated_at: T0 }).execute();
    await db.insertInto('campaign_accounts').values([{ campaign_id: 'cmp_mn', account_id: 'scraper-a' }, { campaign_id: 'cmp_mn', account_id: 'scraper-b' }]).execute();
    await db
      .insertInto('exposures')
      .values(VICTIMS.flatMap((v, i) => [{ campaign_id: 'cmp_mn', attacker_account_id: 'scraper-a', revealed_account_id: v, at: T0 + i * 1000 }, ...(i === 0 ? [{ campaign_id: 'cmp_mn', attacker_account_id: 'scraper-b', revealed_account_id: v, at: T0 + 5000 }] : [])]))
      .execute();
    clock.advance(3_600_000);
  }, 60_000);
  afterAll(async () => shared?.close());

  it('both nodes notifying at once write each notice and its webhook once', async () => {
    const at = new Date(clock.now());
    const runs = await Promise.all([0, 1, 0, 1].map((i) => nodes[i]!.ctx.incidents.notices.notifyIncident('inc_mn', ['cmp_mn'], at)));
    expect(runs.reduce((n, r) => n + r.created, 0)).toBe(VICTIMS.length);
    expect(runs.every((r) => r.notices === VICTIMS.length)).toBe(true);
    const db = nodes[1]!.ctx.db.kysely;
    expect(await db.selectFrom('webhook_outbox').select('id').where('event_type', '=', 'exposure.notice').execute()).toHaveLength(VICTIMS.length);
    const page = await nodes[1]!.ctx.incidents.notices.deliveries('inc_mn');
    expect(page.items.map((i) => i.accountId).sort()).toEqual(VICTIMS);
    expect(page.counts).toEqual({ queued: VICTIMS.length, delivered: 0, failed: 0, expired: 0, covered: 0, total: VICTIMS.length });
  });

  it('either node answers an account its own notice, in the same bytes', async () => {
    for (const id of VICTIMS) {
      const [a, b] = [await me(0, id), await me(1, id)];
      expect(a.statusCode).toBe(200);
      expect(b.body).toBe(a.body);
      expect(a.json().notices.map((n: { accountId: string }) => n.accountId)).toEqual([id]);
    }
    expect((await me(0, 'victim-1')).json().notices[0].exposure.attackerAccounts).toBe(2);
    expect((await me(1, 'bystander')).body).toBe('{"notices":[]}');
  });

  it('the budget is shared: calls spread over both nodes get what one node gives', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < OWN_EXPOSURES_LIMITS.account.burst + 4; i++) statuses.push((await me(i % 2, 'poller')).statusCode);
    // The clock stands still: no refill, so exactly the burst is answered, whichever node is asked.
    expect(statuses.filter((s) => s === 200)).toHaveLength(OWN_EXPOSURES_LIMITS.account.burst);
    expect(statuses.slice(OWN_EXPOSURES_LIMITS.account.burst)).toEqual([429, 429, 429, 429]);
    const refused = await me(0, 'poller');
    expect(refused.json().error).toMatchObject({ code: 'rate_limited', details: { scope: 'account' } });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });
});

import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Service } from '../src/main.js';
import { ManualClock } from '../src/util/clock.js';
import { answerer } from './helpers/events.js';
import { uniquePrefix } from './helpers/redis.js';
import { SERVICE_KEY, T0 } from './helpers/service.js';
import { describeSharedNodes, startSharedNodes, type SharedNodes } from './helpers/shared-nodes.js';

/**
 * Exposure periods (incidents/exposure-periods.ts) scaled out: two serving nodes on one PostgreSQL
 * and one Redis, each storing lookup events and recording the same campaign, while the moments that
 * split an attacker account's answers (an id erased and mirrored again for a new holder, an
 * operator's reinstatement of the attacker) are written through the other node. However the
 * recordings interleave, and with answers stored late on either node between them, each (attacker,
 * id) pair keeps exactly the first answer of each period, and each person is told once.
 */
const MIN = 60_000;
const answer = answerer(88000, T0);
const internal = { authorization: `Bearer ${SERVICE_KEY}` };

describeSharedNodes('exposure periods on two nodes over Redis and PostgreSQL', () => {
  const clock = new ManualClock(T0);
  let shared: SharedNodes | undefined;
  let nodes: Service[];
  let campaignId: string;

  const record = (n: number) => nodes[n]!.ctx.incidents.campaigns.openCampaign({ clusterId: 'pn-cluster', accountIds: ['pn-bot'], score: 0.9, evidence: {} });
  const rows = async () =>
    (
      await nodes[1]!.ctx.db.kysely
        .selectFrom('exposures')
        .select(['revealed_account_id', 'at'])
        .where('campaign_id', '=', campaignId)
        .orderBy('revealed_account_id')
        .orderBy('at')
        .execute()
    ).map((r) => [r.revealed_account_id, (Number(r.at) - T0) / MIN]);

  beforeAll(async () => {
    shared = await startSharedNodes({ prefix: uniquePrefix('periods-two-nodes'), clock, seedBase: 60 });
    nodes = shared.nodes;
    for (const id of ['pn-bot', 'pn-victim', 'pn-other']) {
      const put = await nodes[0]!.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers: internal, payload: { handle: id.replace('-', '_') } });
      expect(put.statusCode).toBe(201);
    }
    clock.set(T0 + 5 * MIN);
    await nodes[0]!.ctx.eventPipeline.process([answer('pn-bot', 'pn-victim', 1), answer('pn-bot', 'pn-other', 2)]);
    // The app erases the id through one node and mirrors it for a new person through the other.
    clock.set(T0 + 20 * MIN);
    expect((await nodes[1]!.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/pn-victim', headers: internal })).statusCode).toBeLessThan(300);
    clock.set(T0 + 30 * MIN);
    const holder = await nodes[0]!.app.inject({ method: 'PUT', url: '/internal/v1/accounts/pn-victim', headers: internal, payload: { handle: 'new_holder' } });
    expect(holder.statusCode).toBe(201);
    clock.set(T0 + 40 * MIN);
    await nodes[1]!.ctx.eventPipeline.process([answer('pn-bot', 'pn-victim', 40)]);
    // Suspended through one node, reinstated on appeal through the other; then it scans again.
    clock.set(T0 + 45 * MIN);
    await nodes[1]!.ctx.incidents.enforcer.suspend(['pn-bot'], { actor: 'engine', reason: 'enumeration', evidence: {} });
    clock.set(T0 + 46 * MIN);
    expect((await nodes[0]!.ctx.incidents.enforcer.reinstate('pn-bot', { actor: 'op-b', reason: 'appealed' })).reinstated).toBe(true);
    clock.set(T0 + 50 * MIN);
    await nodes[0]!.ctx.eventPipeline.process([answer('pn-bot', 'pn-victim', 50), answer('pn-bot', 'pn-other', 51)]);
    clock.set(T0 + 55 * MIN);
    // One node opens the campaign (two opening a new cluster's at once is refused by its unique index).
    campaignId = (await record(0)).campaignId;
  }, 120_000);
  afterAll(async () => shared?.close());

  it('both nodes recording at once, with late answers stored on either between rounds, keep one row per period', async () => {
    const expected = [
      ['pn-other', 2],
      ['pn-other', 51],
      ['pn-victim', 1],
      ['pn-victim', 40],
      ['pn-victim', 50],
    ];
    expect(await rows()).toEqual(expected);
    for (let round = 0; round < 3; round++) await Promise.all([record(0), record(1), record(1), record(0)]);
    expect(await rows()).toEqual(expected);

    // Answers stored late, each earlier than its period's row: the holder's (node 1) and the
    // rescan's (node 0), while both nodes record. Each moves its own period's row, nothing else.
    await Promise.all([
      nodes[1]!.ctx.eventPipeline.process([answer('pn-bot', 'pn-victim', 35)]),
      record(0),
      nodes[0]!.ctx.eventPipeline.process([answer('pn-bot', 'pn-other', 48)]),
      record(1),
    ]);
    for (let round = 0; round < 2; round++) await Promise.all([record(0), record(1)]);
    expect(await rows()).toEqual([
      ['pn-other', 2],
      ['pn-other', 48],
      ['pn-victim', 1],
      ['pn-victim', 35],
      ['pn-victim', 50],
    ]);
    // A late answer from the predecessor's period, before the reinstatement: its period has a row already.
    await nodes[1]!.ctx.eventPipeline.process([answer('pn-bot', 'pn-victim', 3)]);
    await Promise.all([record(0), record(1)]);
    expect((await rows()).filter(([id]) => id === 'pn-victim')).toEqual([
      ['pn-victim', 1],
      ['pn-victim', 35],
      ['pn-victim', 50],
    ]);
  });

  it('either node reports the same counts: pairs and ids, not rows', async () => {
    const [a, b] = await Promise.all([nodes[0]!.ctx.incidents.campaigns.campaignReport(campaignId), nodes[1]!.ctx.incidents.campaigns.campaignReport(campaignId)]);
    expect(b.exposures).toEqual(a.exposures);
    expect(a.exposures.pairs).toBe(2);
    expect(a.accounts).toEqual([expect.objectContaining({ accountId: 'pn-bot', revealed: 2 })]);
  });

  it('both nodes notifying at once tell each person once, of the answers after the reinstatement', async () => {
    clock.set(T0 + 60 * MIN);
    const at = new Date(clock.now());
    const runs = await Promise.all([0, 1, 0, 1].map((i) => nodes[i]!.ctx.incidents.notices.notifyIncident('inc_pn', [campaignId], at)));
    expect(runs.reduce((n, r) => n + r.created, 0)).toBe(2);
    const told = await Promise.all(['pn-victim', 'pn-other'].map((id) => nodes[1]!.ctx.incidents.notices.forAccount(id)));
    // The operator's reinstatement judged what the account had found before it (exposure-rule.ts):
    // what is told is the rescan after it, to the id's present holder and to the other person.
    expect(told.map((notices) => notices.map((n) => n.exposure.firstAt))).toEqual([[new Date(T0 + 50 * MIN).toISOString()], [new Date(T0 + 48 * MIN).toISOString()]]);
  });
});

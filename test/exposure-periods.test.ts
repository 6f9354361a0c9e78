import { Migrator } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrateToLatest } from '../src/db/migrate.js';
import { migrations } from '../src/db/migrations/index.js';
import { MIRRORED_SKEW_MS } from '../src/incidents/exposure-rule.js';
import { answerer } from './helpers/events.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { addOperator, signIn, type SignedIn } from './helpers/operators.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * A pair (attacker account, account id) keeps the first answer of each period the exposure rule
 * judges apart (incidents/exposure-periods.ts). Everything that counts pairs, ids or attacker
 * accounts must count them, not rows: here one attacker account found an id's first holder, a
 * second account, and the id's new holder after the app erased and mirrored it again, so the id has
 * two rows for one pair.
 */
const MIN = 60_000;
const answer = answerer(87000, T0);

describeEachDialect('exposures kept per period', (dialect) => {
  let svc: TestService;
  let campaignId: string;
  let opened: Awaited<ReturnType<TestService['ctx']['incidents']['campaigns']['openCampaign']>>;
  let mirroredAt: number;
  let viewer: SignedIn;
  const rows = () =>
    svc.ctx.db.kysely.selectFrom('exposures').select(['revealed_account_id', 'at']).where('campaign_id', '=', campaignId).orderBy('revealed_account_id').orderBy('at').execute();
  const admin = (url: string) => svc.app.inject({ method: 'GET', url: `/admin/v1${url}`, headers: viewer.headers });

  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['ep-bot', 'ep-victim', 'ep-other']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('ep-bot', 'ep-victim', 1), answer('ep-bot', 'ep-other', 2), answer('ep-bot', 'ep-victim', 3)]);
    svc.clock.set(T0 + 20 * MIN);
    expect((await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/ep-victim', headers: svc.internal })).statusCode).toBeLessThan(300);
    svc.clock.set(T0 + 30 * MIN);
    await mirrorAccount(svc, 'ep-victim', [], { handle: 'new_holder' });
    mirroredAt = svc.clock.now();
    svc.clock.set(T0 + 40 * MIN);
    await svc.ctx.eventPipeline.process([answer('ep-bot', 'ep-victim', 40), answer('ep-bot', 'ep-other', 41)]);
    svc.clock.set(T0 + 50 * MIN);
    opened = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'ep-cluster', accountIds: ['ep-bot'], score: 0.9, evidence: {} });
    campaignId = opened.campaignId;
    viewer = await signIn(svc, await addOperator(svc, 'ep-viewer', 'viewer'));
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('keeps the first answer of each period, one row where nothing splits the answers', async () => {
    const stored = (await rows()).map((r) => [r.revealed_account_id, Number(r.at)]);
    expect(stored).toEqual([
      ['ep-other', T0 + 2 * MIN],
      ['ep-victim', T0 + MIN],
      ['ep-victim', T0 + 40 * MIN],
    ]);
    // The predecessor's row is from before the holder's mirroring (less the skew), the holder's after.
    expect(T0 + 3 * MIN).toBeLessThan(mirroredAt - MIRRORED_SKEW_MS);
  });

  it('counts pairs, ids and attacker accounts, not rows', async () => {
    const report = await svc.ctx.incidents.campaigns.campaignReport(campaignId);
    expect(report.exposures.count).toBe(2);
    expect(report.exposures.pairs).toBe(2);
    expect(report.exposures.accounts.find((a) => a.accountId === 'ep-victim')).toMatchObject({ attackerAccounts: 1, firstExposedAt: new Date(T0 + MIN).toISOString() });
    expect(report.accounts).toEqual([expect.objectContaining({ accountId: 'ep-bot', revealed: 2 })]);
    const page = (await admin(`/campaigns/${campaignId}`)).json();
    expect(page).toMatchObject({ exposurePairs: 2 });
    expect(opened.summary.exposures).toEqual({ pairs: 2, accounts: 2 });
    const graph = (await admin(`/campaigns/${campaignId}/graph`)).json();
    expect(graph.nodes.find((n: { id: string }) => n.id === 'a:ep-bot').size).toBe(Math.round((2 + Math.log2(3)) * 100) / 100);
  });

  it('lists a line per period in the CSV', async () => {
    const csv = await admin(`/campaigns/${campaignId}/exposures.csv`);
    expect(csv.statusCode).toBe(200);
    expect(csv.body.trim().split('\r\n').slice(1).map((l) => l.split(',').slice(2).join(' '))).toEqual([
      `ep-other ${new Date(T0 + 2 * MIN).toISOString()}`,
      `ep-victim ${new Date(T0 + MIN).toISOString()}`,
      `ep-victim ${new Date(T0 + 40 * MIN).toISOString()}`,
    ]);
  });

  it('recording again adds nothing, and a late earlier answer moves its own period only', async () => {
    // An answer to the new holder stored late, earlier than the one recorded for its period.
    await svc.ctx.eventPipeline.process([answer('ep-bot', 'ep-victim', 35)]);
    const again = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'ep-cluster', accountIds: ['ep-bot'], score: 0.9, evidence: {} });
    expect(again).toMatchObject({ campaignId, created: false, newExposures: 0 });
    expect((await rows()).map((r) => [r.revealed_account_id, Number(r.at)])).toEqual([
      ['ep-other', T0 + 2 * MIN],
      ['ep-victim', T0 + MIN],
      ['ep-victim', T0 + 35 * MIN],
    ]);
  });

  it('the migration keeps old rows as each pair\'s first answer, and can be undone', async () => {
    const db = svc.ctx.db.kysely;
    const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
    expect((await migrator.migrateTo('20270104000000-token-creator')).error).toBeUndefined();
    const collapsed = (await db.selectFrom('exposures').selectAll().where('campaign_id', '=', campaignId).orderBy('revealed_account_id').execute()).map((r) => [
      r.revealed_account_id,
      Number(r.at),
    ]);
    expect(collapsed).toEqual([
      ['ep-other', T0 + 2 * MIN],
      ['ep-victim', T0 + MIN],
    ]);
    await migrateToLatest(db);
    expect((await rows()).map((r) => [r.revealed_account_id, Number(r.at)])).toEqual([
      ['ep-other', T0 + 2 * MIN],
      ['ep-victim', T0 + MIN],
    ]);
    // The next recording finds the holder's period again.
    await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'ep-cluster', accountIds: ['ep-bot'], score: 0.9, evidence: {} });
    expect(await rows()).toHaveLength(3);
  });

  it('a holder found after the earlier answers aged out of the events gets a row of its own', async () => {
    // Retention removed every event of the first hour; the rows it left stay.
    await svc.ctx.db.kysely.deleteFrom('lookup_events').where('account_id', '=', 'ep-bot').execute();
    svc.clock.set(T0 + 60 * MIN);
    expect((await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/ep-victim', headers: svc.internal })).statusCode).toBeLessThan(300);
    svc.clock.set(T0 + 70 * MIN);
    await mirrorAccount(svc, 'ep-victim', [], { handle: 'third_holder' });
    svc.clock.set(T0 + 80 * MIN);
    // The open campaign's member is caught up as its event is handled (Campaigns.catchUp).
    await svc.ctx.eventPipeline.process([answer('ep-bot', 'ep-victim', 80)]);
    expect((await rows()).filter((r) => r.revealed_account_id === 'ep-victim').map((r) => Number(r.at))).toEqual([T0 + MIN, T0 + 35 * MIN, T0 + 80 * MIN]);
  });
});

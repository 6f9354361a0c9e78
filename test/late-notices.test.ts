import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../src/abuse/events.js';
import { LateExposures } from '../src/abuse/late-exposures.js';
import { EventPipeline } from '../src/abuse/pipeline.js';
import { Campaigns, ExposureNotices, IncidentLifecycle, listAudit, type IncidentActor, type WebhookEnvelope } from '../src/incidents/index.js';
import { createLogger } from '../src/logger.js';
import { makeEvent } from './helpers/events.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * Notices owed to accounts exposed after their incident was notified (src/incidents/late-notices.ts)
 * stay exact when a process dies between recording the exposure and sending its notice, and when
 * two nodes send them at once: one notice each, and the incident's count and audit add up.
 */
const MIN = 60_000;
const by = (id: string): IncidentActor => ({ actor: { id, name: id, role: 'analyst', via: 'token' }, from: null, tool: 'api' });
let n = 0;
const answer = (revealed: string, minute: number): LookupEvent =>
  makeEvent(++n + 5000, { accountId: 'ln-atk', at: T0 + minute * MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('notices owed after an incident was notified', (dialect) => {
  let svc: TestService;
  let campaignId: string;
  let incidentId: string;
  /** Records campaigns as a process that dies before it sends the notices would have. */
  let bare: Campaigns;
  const lateActions = async () => (await listAudit(svc.ctx.db.kysely, { subject: `incident:${incidentId}`, limit: 50 })).filter((a) => a.action === 'incident.notify_late');

  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['ln-atk', 'ln-v1', 'ln-v2', 'ln-v3']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('ln-v1', 1)]);
    svc.clock.set(T0 + 10 * MIN);
    campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'ln-cluster', accountIds: ['ln-atk'], score: 0.9, evidence: { detector: 'test' } })).campaignId;
    const life = svc.ctx.incidents.lifecycle;
    incidentId = (await life.open({ title: 'Scan', campaignIds: [campaignId] }, by('op-a'))).id;
    await life.editPhase(incidentId, 1, { art34: { applies: true, reason: 'Numbers tied to people.' } }, by('op-a'));
    await life.submit(incidentId, by('op-a'));
    await life.approve(incidentId, by('op-a'));
    await life.approve(incidentId, by('op-b'));
    expect(await life.notify(incidentId, by('op-b'))).toMatchObject({ status: 'notified', notices: 1 });
    bare = new Campaigns({ db: svc.ctx.db.kysely, clock: svc.clock, random: svc.ctx.random });
  }, 120_000);
  afterAll(async () => svc?.stop());

  it('a process that died after recording a late exposure: the redelivered batch sends its notice', async () => {
    const late = answer('ln-v2', 9);
    await new EventPipeline(svc.ctx.db, [new LateExposures(bare, createLogger('silent'))]).process([late]);
    expect((await svc.ctx.db.kysely.selectFrom('exposures').select('revealed_account_id').where('campaign_id', '=', campaignId).execute()).length).toBe(2);
    expect(await svc.ctx.incidents.notices.forAccount('ln-v2')).toEqual([]);

    // The entry was never acknowledged: the next owner gets it again and stores nothing new.
    await svc.ctx.eventPipeline.process([late]);
    expect((await svc.ctx.incidents.notices.forAccount('ln-v2')).length).toBe(1);
    expect(await svc.ctx.incidents.lifecycle.get(incidentId)).toMatchObject({ status: 'notified', notices: 2 });
    expect((await lateActions()).map((a) => [a.before, a.after])).toEqual([[{ notices: 1 }, { notices: 2 }]]);
    // Nothing is owed any more: recording again sends and records nothing.
    await svc.ctx.eventPipeline.process([late]);
    expect(await svc.ctx.incidents.lifecycle.notifyLate(campaignId)).toBe(0);
    expect(await lateActions()).toHaveLength(1);
  });

  it('two nodes sending what is owed at once: one notice, counted and audited once', async () => {
    await new EventPipeline(svc.ctx.db, [new LateExposures(bare, createLogger('silent'))]).process([answer('ln-v3', 11)]);
    const deps = { db: svc.ctx.db.kysely, clock: svc.clock, random: svc.ctx.random };
    const other = new IncidentLifecycle({ ...deps, notifier: new ExposureNotices(deps) });
    const sent = await Promise.all([svc.ctx.incidents.lifecycle.notifyLate(campaignId), other.notifyLate(campaignId)]);
    expect(sent.reduce((a, b) => a + b, 0)).toBe(1);
    expect((await svc.ctx.incidents.notices.forAccount('ln-v3')).length).toBe(1);
    expect(await svc.ctx.incidents.lifecycle.get(incidentId)).toMatchObject({ notices: 3 });
    expect((await lateActions()).map((a) => a.after)).toEqual([{ notices: 3 }, { notices: 2 }]);
  });

  it('the app hears of each late count as of every other change: one incident.updated per notify_late', async () => {
    const rows = await svc.ctx.db.kysely.selectFrom('webhook_outbox').select(['payload', 'created_at']).where('event_type', '=', 'incident.updated').execute();
    const late = rows
      .map((r) => (JSON.parse(r.payload) as WebhookEnvelope<'incident.updated'>).data)
      .filter((p) => p.change === 'notify_late')
      .sort((a, b) => (a.notices ?? 0) - (b.notices ?? 0));
    expect(late.map((p) => [p.incidentId, p.notices])).toEqual([
      [incidentId, 2],
      [incidentId, 3],
    ]);
  });
});

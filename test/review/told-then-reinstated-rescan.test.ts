import { afterAll, beforeAll, expect, it } from 'vitest';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { notifiedIncident } from '../helpers/incidents.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review (sixteenth session, of the exposure periods): a notice records which attacker accounts it
 * told of, and a later incident leaves those out ("one notice per exposure"). An attacker account
 * whose first campaign was notified, then reinstated by an operator, then caught scanning again in
 * a new campaign, shows a person it had found before once more: a new exposure, in a period of its
 * own. Keyed by the attacker alone, the person got no notice of it.
 */
const MIN = 60_000;
const answer = answerer(86000, T0);

describeEachDialect('review: a person told of an attacker account, found again after its reinstatement', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['tr-bot', 'tr-person']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('tr-bot', 'tr-person', 1)]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('the later incident tells the person of the new finding, and not twice of the old one', async () => {
    const first = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'tr-first', accountIds: ['tr-bot'], score: 0.9, evidence: {} })).campaignId;
    svc.clock.set(T0 + 15 * MIN);
    await notifiedIncident(svc, [first]);
    expect(await svc.ctx.incidents.notices.forAccount('tr-person')).toHaveLength(1);
    // Appealed and reinstated; days later the account scans again and is caught in a new campaign.
    svc.clock.set(T0 + 20 * MIN);
    await svc.ctx.incidents.enforcer.suspend(['tr-bot'], { actor: 'engine', reason: 'enumeration', evidence: {} });
    svc.clock.set(T0 + 25 * MIN);
    expect((await svc.ctx.incidents.enforcer.reinstate('tr-bot', { actor: 'op-b', reason: 'appealed' })).reinstated).toBe(true);
    svc.clock.set(T0 + 30 * MIN);
    await svc.ctx.eventPipeline.process([answer('tr-bot', 'tr-person', 30)]);
    svc.clock.set(T0 + 40 * MIN);
    const second = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'tr-second', accountIds: ['tr-bot'], score: 0.9, evidence: {} })).campaignId;
    svc.clock.set(T0 + 45 * MIN);
    await notifiedIncident(svc, [second], 'Rescan');
    const notices = await svc.ctx.incidents.notices.forAccount('tr-person');
    expect(notices).toHaveLength(2);
    expect(notices.map((n) => n.exposure.firstAt).sort()).toEqual([new Date(T0 + MIN).toISOString(), new Date(T0 + 30 * MIN).toISOString()]);
  });

  it('answers kept after the told one aged out, in the same period, are not told again', async () => {
    for (const id of ['tr-bot2', 'tr-friend']) await mirrorAccount(svc, id, []);
    svc.clock.set(T0 + 50 * MIN);
    await svc.ctx.eventPipeline.process([answer('tr-bot2', 'tr-friend', 50)]);
    svc.clock.set(T0 + 55 * MIN);
    const first = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'tr-third', accountIds: ['tr-bot2'], score: 0.9, evidence: {} })).campaignId;
    svc.clock.set(T0 + 60 * MIN);
    await notifiedIncident(svc, [first], 'Third');
    expect(await svc.ctx.incidents.notices.forAccount('tr-friend')).toHaveLength(1);
    // The account keeps finding the person (throttled, not suspended); the told answer's event ages out.
    await svc.ctx.eventPipeline.process([answer('tr-bot2', 'tr-friend', 65)]);
    await svc.ctx.db.kysely.deleteFrom('lookup_events').where('account_id', '=', 'tr-bot2').where('at', '<', T0 + 60 * MIN).execute();
    svc.clock.set(T0 + 70 * MIN);
    const second = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'tr-fourth', accountIds: ['tr-bot2'], score: 0.9, evidence: {} })).campaignId;
    svc.clock.set(T0 + 75 * MIN);
    await notifiedIncident(svc, [second], 'Fourth');
    // One exposure, told once: the second incident records the person as covered.
    expect(await svc.ctx.incidents.notices.forAccount('tr-friend')).toHaveLength(1);
  });
});

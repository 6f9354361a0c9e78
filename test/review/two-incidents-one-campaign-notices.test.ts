import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import type { IncidentActor } from '../../src/incidents/index.js';
import { makeEvent } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: the engine opens at most one incident per campaign ("none when an incident already names
 * it"), but an operator's POST /admin/v1/incidents (the campaign page's "Open an incident for this
 * campaign") names a campaign whatever incident already holds it. Notices are unique per
 * (incident, account) only, so the same exposure, reported through two incidents, is sent to each
 * exposed person twice (two exposure.notice webhooks, two notices in /v1/me/exposures), and the
 * regulator gets two reports counting the same people.
 */
const MIN = 60_000;
const by = (id: string): IncidentActor => ({ actor: { id, name: id, role: 'analyst', via: 'token' }, from: null, tool: 'api' });
const answer = (revealed: string): LookupEvent => makeEvent(9401, { accountId: 'ti-atk', at: T0 + MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('review: one campaign, one incident', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['ti-atk', 'ti-v1']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('ti-v1')]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('an exposed person is told of one exposure once', async () => {
    const campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'ti-cluster', accountIds: ['ti-atk'], score: 0.9, evidence: {} })).campaignId;
    const life = svc.ctx.incidents.lifecycle;
    const runThrough = async (title: string): Promise<void> => {
      const id = (await life.open({ title, campaignIds: [campaignId] }, by('op-a'))).id;
      await life.submit(id, by('op-a'));
      await life.approve(id, by('op-a'));
      await life.approve(id, by('op-b'));
      await life.notify(id, by('op-b'));
    };
    await runThrough('Scan (from the campaign page)');
    // A second operator, from the incidents page, opens one for the same campaign.
    const second = runThrough('Scan, reported again').then(
      () => 'opened',
      (err: unknown) => (err as { code?: string }).code ?? String(err),
    );
    const outcome = await second;
    const sent = (await svc.ctx.db.kysely.selectFrom('webhook_outbox').select('payload').where('event_type', '=', 'exposure.notice').execute()).filter(
      (r) => (JSON.parse(r.payload) as { data: { accountId: string } }).data.accountId === 'ti-v1',
    );
    expect(sent.length, `second incident: ${outcome}`).toBe(1);
    expect(await svc.ctx.incidents.notices.forAccount('ti-v1')).toHaveLength(1);
  });
});

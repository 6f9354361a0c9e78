import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import type { IncidentActor } from '../../src/incidents/index.js';
import { makeEvent } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';
import { notifiedIncident } from '../helpers/incidents.js';

/**
 * Review: DESIGN §5 (the contract with the app backend) lists the webhook events findguard sends:
 * account.suspended, account.reinstated, campaign.detected, exposure.recorded, exposure.notice and
 * `incident.updated`. No code path enqueues incident.updated (outbox.ts WEBHOOK_EVENTS lacks it):
 * an incident opened, approved, notified and closed tells the app nothing, so an app that follows
 * its incidents through the contract never hears of any.
 */
const MIN = 60_000;
const by = (id: string): IncidentActor => ({ actor: { id, name: id, role: 'analyst', via: 'token' }, from: null, tool: 'api' });
const answer = (revealed: string): LookupEvent => makeEvent(9101, { accountId: 'iu-atk', at: T0 + MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('review: incident.updated webhooks', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['iu-atk', 'iu-v1']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('iu-v1')]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('an incident taken through its lifecycle sends incident.updated', async () => {
    const campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'iu-cluster', accountIds: ['iu-atk'], score: 0.9, evidence: {} })).campaignId;
    const life = svc.ctx.incidents.lifecycle;
    const id = await notifiedIncident(svc, [campaignId]);
    await life.close(id, 'done', by('op-b'));

    const types = (await svc.ctx.db.kysely.selectFrom('webhook_outbox').select('event_type').execute()).map((r) => r.event_type);
    expect(types).toContain('exposure.notice');
    expect(types, `outbox holds: ${[...new Set(types)].join(', ')}`).toContain('incident.updated');
  });
});

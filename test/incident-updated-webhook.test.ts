import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../src/abuse/events.js';
import type { IncidentActor, WebhookEnvelope } from '../src/incidents/index.js';
import { makeEvent } from './helpers/events.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * `incident.updated` (src/incidents/incident-updates.ts): one per change, in the change's
 * transaction, carrying ids, states and counts only: never the title or notes an operator wrote,
 * never an operator's name; a refused move sends nothing.
 */
const MIN = 60_000;
const by = (id: string): IncidentActor => ({ actor: { id, name: `${id}@example.test`, role: 'analyst', via: 'oidc' }, from: null, tool: 'api' });
const answer = (revealed: string): LookupEvent => makeEvent(9201, { accountId: 'iw-atk', at: T0 + MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('incident.updated webhooks', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['iw-atk', 'iw-v1']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('iw-v1')]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('one event per change, with the state after it, and no free text or operator name', async () => {
    const campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'iw-cluster', accountIds: ['iw-atk'], score: 0.9, evidence: {} })).campaignId;
    const life = svc.ctx.incidents.lifecycle;
    const id = (await life.open({ title: 'Secret title +15551234567', campaignIds: [campaignId], notes: 'call jane@example.test' }, by('op-a'))).id;
    await life.update(id, { owner: 'op-a' }, by('op-a'));
    await life.submit(id, by('op-a'));
    await expect(life.submit(id, by('op-a'))).rejects.toMatchObject({ code: 'illegal_transition' });
    await life.approve(id, by('op-a'));
    await life.approve(id, by('op-b'));
    await life.notify(id, by('op-b'));
    await life.close(id, 'done', by('op-b'));

    const rows = await svc.ctx.db.kysely.selectFrom('webhook_outbox').select('payload').where('event_type', '=', 'incident.updated').orderBy('id').execute();
    const events = rows.map((r) => JSON.parse(r.payload) as WebhookEnvelope<'incident.updated'>).filter((e) => e.data.incidentId === id);
    expect(events.map((e) => [e.data.change, e.data.previousStatus, e.data.status])).toEqual([
      ['open', null, 'draft'],
      ['update', 'draft', 'draft'],
      ['submit', 'draft', 'in_review'],
      ['approve', 'in_review', 'in_review'],
      ['approve', 'in_review', 'approved'],
      ['notify', 'approved', 'notified'],
      ['close', 'notified', 'closed'],
    ]);
    expect(events[4]!.data).toMatchObject({ by: 'operator', source: 'operator', campaignIds: [campaignId], phase: { number: 1, status: 'approved', approvals: 2 }, notices: null });
    expect(events[5]!.data.notices).toBe(1);
    const raw = rows.map((r) => r.payload).join('\n');
    for (const secret of ['Secret title', '15551234567', 'jane@example.test', 'op-a@example.test', 'op-b@example.test']) expect(raw).not.toContain(secret);
  });
});

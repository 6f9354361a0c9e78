import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import { listAudit } from '../../src/incidents/index.js';
import { compilePolicy, DEFAULT_POLICY } from '../../src/policy/index.js';
import { makeEvent } from '../helpers/events.js';
import { lookup, mirrorAccount, NUMBERS } from '../helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES } from '../helpers/operators.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Found in review, fixed: an answer stored after its campaign's incident was notified (a worker's
 * backlog, a partition taken over, a node that answered before it read the suspension) joined the
 * campaign (late-exposures.ts), yet its person never got an Art. 34 notice: notifyIncident ran only
 * on the approved -> notified transition, notified leads only to closed, and a supplement's approval
 * sends nothing. Recording a campaign again now sends the notices its notified incident owes
 * (late-notices.ts), with the incident's count and an audit entry saying so.
 */
const HOUR = 3_600_000;

describeEachDialect('late exposure after the incident was notified', (dialect) => {
  let svc: TestService;
  let campaignId: string;
  const who = {} as Record<'alice' | 'bob' | 'carol', { headers: { authorization: string } }>;
  beforeAll(async () => {
    const policy = compilePolicy({ ...DEFAULT_POLICY, name: 'review-late-notice' });
    svc = await startTestService(dialect, { dpoContact: 'DPO, Example Ltd, dpo@example.test' }, { ...OPERATOR_OVERRIDES, policy });
    for (const [name, role] of [['alice', 'analyst'], ['bob', 'analyst'], ['carol', 'admin']] as const) {
      const op = await addOperator(svc, name, role);
      who[name] = { headers: { authorization: `Bearer ${(await svc.ctx.operators.createToken('cli', op.id, 'test')).token}` } };
    }
    const created = new Date(T0 - 400 * 24 * HOUR).toISOString();
    await mirrorAccount(svc, 'victim-early', [{ value: NUMBERS.usA, purposes: ['discovery'] }], { createdAt: created, phoneRegion: 'US' });
    await mirrorAccount(svc, 'victim-late', [{ value: NUMBERS.gbA, purposes: ['discovery'] }], { createdAt: created, phoneRegion: 'GB' });
    await mirrorAccount(svc, 'scraper', [], { createdAt: created, phoneRegion: 'US' });
    expect((await lookup(svc, await svc.tokenFor('scraper'), { phone: NUMBERS.usA })).statusCode).toBe(200);
    await svc.ctx.events.flush();
    campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cl-late', accountIds: ['scraper'], score: 0.9, evidence: { why: 'test' } })).campaignId;
    await svc.ctx.incidents.enforcer.suspend(['scraper'], { actor: 'engine', reason: 'scan', evidence: {}, clusterId: 'cl-late', campaignId });
  }, 120_000);
  afterAll(async () => svc?.stop());

  const api = (method: 'GET' | 'POST' | 'PUT', url: string, w: { headers: { authorization: string } }, body?: Record<string, unknown>) =>
    svc.app.inject({ method, url: `/admin/v1${url}`, headers: w.headers, ...(body ? { payload: body } : {}) });

  it('the person a late answer exposed gets a notice too', async () => {
    const res = await api('POST', '/incidents', who.alice, { title: 'Scrape', campaignIds: [campaignId], awareAt: svc.clock.now() - HOUR });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().incident.id as string;
    await api('PUT', `/incidents/${id}/phases/1`, who.alice, { consequences: 'Phishing.', art34: { applies: true, reason: 'Handles tie numbers to people.' } });
    await api('POST', `/incidents/${id}/submit`, who.alice);
    await api('POST', `/incidents/${id}/approve`, who.alice);
    await api('POST', `/incidents/${id}/approve`, who.bob);
    const notified = await api('POST', `/incidents/${id}/notify`, who.carol);
    expect(notified.json().incident).toMatchObject({ status: 'notified', notices: 1 });

    // The scraper's answer about victim-late, given before the suspension reached its node, is stored now.
    const late: LookupEvent = makeEvent(777_001, { accountId: 'scraper', at: svc.clock.now() - 1000, revealed: ['victim-late'], matched: 1, numbers: 1, blocks: {} });
    await svc.ctx.eventPipeline.process([late]);
    const exposed = await svc.ctx.db.kysely.selectFrom('exposures').select('revealed_account_id').where('campaign_id', '=', campaignId).execute();
    expect(exposed.map((r) => r.revealed_account_id).sort()).toEqual(['victim-early', 'victim-late']);
    expect((await svc.ctx.incidents.notices.forAccount('victim-late')).length).toBe(1);
    const sent = await svc.ctx.db.kysely.selectFrom('exposure_notices').select(['account_id', 'event_id']).where('incident_id', '=', id).execute();
    expect(sent.map((r) => r.account_id).sort()).toEqual(['victim-early', 'victim-late']);
    // Sent as the others were: an exposure.notice webhook through the outbox.
    const events = await svc.ctx.db.kysely.selectFrom('webhook_outbox').select('id').where('event_type', '=', 'exposure.notice').execute();
    expect(events.map((e) => e.id).sort()).toEqual(sent.map((r) => r.event_id).sort());
    const after = (await api('GET', `/incidents/${id}`, who.carol)).json().incident;
    expect(after).toMatchObject({ status: 'notified', notices: 2 });
    const trail = await listAudit(svc.ctx.db.kysely, { subject: `incident:${id}`, limit: 50 });
    expect(trail[0]).toMatchObject({ action: 'incident.notify_late', actor: { name: 'engine' }, before: { notices: 1 }, after: { notices: 2 } });

    // What an operator can still do (a supplement, approved; notifying again) sends nothing twice.
    await api('POST', `/incidents/${id}/supplements`, who.alice, { supplement: 'One more account found.' });
    await api('POST', `/incidents/${id}/submit`, who.alice);
    await api('POST', `/incidents/${id}/approve`, who.bob);
    await api('POST', `/incidents/${id}/approve`, who.carol);
    await api('POST', `/incidents/${id}/notify`, who.carol);

    expect((await svc.ctx.incidents.notices.forAccount('victim-early')).length).toBe(1);
    expect((await svc.ctx.incidents.notices.forAccount('victim-late')).length).toBe(1);
  });
});

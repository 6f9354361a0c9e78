import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import { listAudit, type IncidentActor } from '../../src/incidents/index.js';
import { makeEvent } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review of 930f79a/e05712e/d24007f: late-notices.ts compares the incident's stored count with the
 * number of notice rows the incident has now. Expired notices keep their row since 930f79a, but an
 * erased account still takes its row away (cascade), so after one erasure the next late notice
 * brings the row count back to the stored count: `notices <= before` holds, and the notice that
 * was just sent is neither counted, nor audited (incident.notify_late), nor told to the app
 * (incident.updated). The incident's count then says fewer people were told than were.
 */
const MIN = 60_000;
const by = (id: string): IncidentActor => ({ actor: { id, name: id, role: 'analyst', via: 'token' }, from: null, tool: 'api' });
let n = 0;
const answer = (revealed: string, minute: number): LookupEvent =>
  makeEvent(++n + 27000, { accountId: 'le-atk', at: T0 + minute * MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('review: a late notice after an erasure goes uncounted', (dialect) => {
  let svc: TestService;
  let campaignId: string;
  let incidentId: string;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['le-atk', 'le-v1', 'le-v2']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('le-v1', 1)]);
    svc.clock.set(T0 + 10 * MIN);
    campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'le-cluster', accountIds: ['le-atk'], score: 0.9, evidence: { detector: 'test' } })).campaignId;
    const life = svc.ctx.incidents.lifecycle;
    incidentId = (await life.open({ title: 'Scan', campaignIds: [campaignId] }, by('op-a'))).id;
    await life.editPhase(incidentId, 1, { art34: { applies: true, reason: 'Numbers tied to people.' } }, by('op-a'));
    await life.submit(incidentId, by('op-a'));
    await life.approve(incidentId, by('op-a'));
    await life.approve(incidentId, by('op-b'));
    expect(await life.notify(incidentId, by('op-b'))).toMatchObject({ status: 'notified', notices: 1 });
  }, 120_000);
  afterAll(async () => svc?.stop());

  it('counts and audits the late notice although an earlier notified account was erased', async () => {
    const erased = await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/le-v1', headers: svc.internal });
    expect(erased.statusCode).toBeLessThan(300);

    svc.clock.set(T0 + 20 * MIN);
    await svc.ctx.eventPipeline.process([answer('le-v2', 15)]);
    // The late notice was sent...
    expect(await svc.ctx.incidents.notices.forAccount('le-v2')).toHaveLength(1);
    // ...so two people have been told in all, and the late one is on record.
    expect(await svc.ctx.incidents.lifecycle.get(incidentId)).toMatchObject({ notices: 2 });
    const late = (await listAudit(svc.ctx.db.kysely, { subject: `incident:${incidentId}`, limit: 50 })).filter((a) => a.action === 'incident.notify_late');
    expect(late).toHaveLength(1);
  });
});

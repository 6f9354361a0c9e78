import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '../../src/incidents/index.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn, type TestOperator } from '../helpers/operators.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: a token an admin minted for a colleague cannot approve (byAnothersToken), but it can mint
 * a second token for the same colleague: POST /admin/v1/operators/<colleague>/tokens with it counts
 * as the colleague acting on themselves (createToken: by.principal.id === id), so the new token is
 * recorded created_by = colleague. That laundered token approves as the colleague: one admin meets
 * the two-person rule alone (operators/service.ts createToken; http/admin/operator-routes.ts).
 */
const HOUR = 3_600_000;

describeEachDialect('review: a token minted with another\'s token approves', (dialect) => {
  let svc: TestService;
  let admin: SignedIn;
  let colleague: TestOperator;
  let campaignId: string;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
    admin = await signIn(svc, await addOperator(svc, 'solo-admin', 'admin'));
    colleague = await addOperator(svc, 'colleague-b', 'analyst');
    await mirrorAccount(svc, 'scraper-t', [], { createdAt: new Date(T0 - 400 * 24 * HOUR).toISOString(), phoneRegion: 'US' });
    campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cluster-token', accountIds: ['scraper-t'], score: 0.9, evidence: { why: 'test' } })).campaignId;
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('one admin alone does not get a report approved', async () => {
    const api = (method: 'POST' | 'GET', url: string, headers: Record<string, string>, body?: object) =>
      svc.app.inject({ method, url: `/admin/v1${url}`, headers, ...(body !== undefined ? { payload: body } : {}) });
    let res = await api('POST', '/incidents', admin.headers, { title: 'Solo approval', campaignIds: [campaignId] });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().incident.id as string;
    expect((await api('POST', `/incidents/${id}/submit`, admin.headers)).statusCode).toBe(200);
    expect((await api('POST', `/incidents/${id}/approve`, admin.headers)).json().incident.status).toBe('in_review');

    const minted = await api('POST', `/operators/${colleague.id}/tokens`, admin.headers, { label: 'script' });
    expect(minted.statusCode).toBe(201);
    const first = { authorization: `Bearer ${minted.json().token as string}` };
    // The first token is refused, as the fix intends...
    expect((await api('POST', `/incidents/${id}/approve`, first)).statusCode).toBe(403);
    // ...but it mints a second one, recorded as the colleague's own.
    const second = await api('POST', `/operators/${colleague.id}/tokens`, first, { label: 'laundered' });
    let status = 'in_review';
    if (second.statusCode === 201) {
      res = await api('POST', `/incidents/${id}/approve`, { authorization: `Bearer ${second.json().token as string}` });
      status = (await api('GET', `/incidents/${id}`, admin.headers)).json().incident.status as string;
    }
    const approvals = (await listAudit(svc.ctx.db.kysely, { subject: `incident:${id}`, limit: 20 })).filter((a) => a.action === 'incident.approve').map((a) => `${a.actor.name} via ${a.actor.via}`);
    expect(status, `second token: ${second.statusCode}; approvals: ${JSON.stringify(approvals)}`).toBe('in_review');
  });
});

import { afterAll, beforeAll, expect, it } from 'vitest';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from '../helpers/operators.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: the two-person rule (incident-lifecycle.ts approve) counts approvals of a phase in review,
 * and a phase in review is frozen (editPhase answers 409, linkCampaigns only in draft), but
 * `PATCH /admin/v1/incidents/:id {awareAt}` is still taken while the first report is in review, and
 * keeps the approvals already given. So the author submits, an independent reviewer approves, the
 * author then moves awareAt (the start of the Art. 33 72-hour clock, in the signed report) and
 * approves alone: the report is approved with an awareAt only its author ever saw. One person
 * satisfied the two-person rule for the report's most judged fact.
 */
const HOUR = 3_600_000;

describeEachDialect('review: awareAt changed in review after the independent approval', (dialect) => {
  let svc: TestService;
  let author: SignedIn;
  let reviewer: SignedIn;
  let campaignId: string;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
    author = await signIn(svc, await addOperator(svc, 'author-a', 'analyst'));
    reviewer = await signIn(svc, await addOperator(svc, 'reviewer-b', 'analyst'));
    const created = new Date(T0 - 400 * 24 * HOUR).toISOString();
    await mirrorAccount(svc, 'scraper-x', [], { createdAt: created, phoneRegion: 'US' });
    campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cluster-aware', accountIds: ['scraper-x'], score: 0.9, evidence: { why: 'test' } })).campaignId;
  }, 60_000);
  afterAll(async () => svc?.stop());

  const api = (method: 'POST' | 'PATCH' | 'GET', url: string, who: SignedIn, body?: object) =>
    svc.app.inject({ method, url: `/admin/v1${url}`, headers: who.headers, ...(body !== undefined ? { payload: body } : {}) });

  it('the approved report carries only what the second operator approved', async () => {
    const reviewedAware = svc.clock.now() - 2 * HOUR;
    let res = await api('POST', '/incidents', author, { title: 'Aware moved in review', campaignIds: [campaignId], awareAt: reviewedAware });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().incident.id as string;
    expect((await api('POST', `/incidents/${id}/submit`, author)).json().incident.status).toBe('in_review');

    // The independent reviewer approves the report as it stands: aware two hours ago.
    res = await api('POST', `/incidents/${id}/approve`, reviewer);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().incident).toMatchObject({ status: 'in_review', awareAt: reviewedAware });

    // The author alone then moves the clock's start (here: "aware" only now, so no delay to explain)...
    const moved = svc.clock.now();
    const patch = await api('PATCH', `/incidents/${id}`, author, { awareAt: moved });
    // ...and approves their own report.
    const own = await api('POST', `/incidents/${id}/approve`, author);
    const view = (await api('GET', `/incidents/${id}`, reviewer)).json();

    // Either the change is refused while the phase is in review, or it drops the approvals given
    // before it (as send-back does): never an approved report whose awareAt no second person saw.
    const approvedWithUnreviewedAware = view.incident.status === 'approved' && view.incident.awareAt !== reviewedAware;
    expect(
      approvedWithUnreviewedAware,
      `PATCH ${patch.statusCode}, author's approval ${own.statusCode}: status ${view.incident.status}, awareAt ${new Date(view.incident.awareAt).toISOString()} (reviewed: ${new Date(reviewedAware).toISOString()}), approvals ${JSON.stringify(view.phases[0].approvals.map((a: { operatorName: string }) => a.operatorName))}`,
    ).toBe(false);
    // The change is taken and drops the earlier approval; the reviewer approving the new value completes it.
    expect(patch.statusCode, patch.body).toBe(200);
    expect(view.phases[0].approvals.map((a: { operatorName: string }) => a.operatorName)).toEqual(['author-a']);
    const again = await api('POST', `/incidents/${id}/approve`, reviewer);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json().incident).toMatchObject({ status: 'approved', awareAt: moved });
  });
});

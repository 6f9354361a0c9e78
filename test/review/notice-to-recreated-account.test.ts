import { afterAll, beforeAll, expect, it } from 'vitest';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { notifiedIncident } from '../helpers/incidents.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: "Erased accounts get no notice" (notices.ts notifyIncident -> existing(), writeChunk ->
 * lockAccounts) checks only that an account row with the exposed id exists. Exposures outlive the
 * erasure (they are the campaign's record), so once the app erases an exposed account and later
 * mirrors a new account under the same id (the case the sync token and the book already guard
 * against by the account's mirrored_at), the incident's Art. 34 notice about the erased person's
 * exposure is written for, sent about and served (GET /v1/me/exposures) to the new holder, who was
 * never shown to anyone: its dates and attacker count are the erased person's. The report and its
 * CSV showed the new holder's handle and country for the erased person's row.
 */
const MIN = 60_000;
const answer = answerer(74000, T0);

describeEachDialect('review: a notice about an erased account goes to no one', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['rc-bot', 'rc-victim', 'rc-other']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('rc-bot', 'rc-victim', 1), answer('rc-bot', 'rc-other', 2)]);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('the new holder of an erased id gets no notice about its predecessor', async () => {
    svc.clock.set(T0 + 10 * MIN);
    const { campaignId } = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'rc-cluster', accountIds: ['rc-bot'], score: 0.9, evidence: {} });
    // The person exposed deletes their account; the app erases it ...
    svc.clock.set(T0 + 20 * MIN);
    const del = await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/rc-victim', headers: svc.internal });
    expect(del.statusCode).toBeLessThan(300);
    // ... and later mirrors someone else's new account under the same id.
    svc.clock.set(T0 + 30 * MIN);
    await mirrorAccount(svc, 'rc-victim', [], { handle: 'someone_else' });

    svc.clock.set(T0 + 60 * MIN);
    const id = await notifiedIncident(svc, [campaignId]);
    expect(await svc.ctx.incidents.notices.forAccount('rc-other')).toHaveLength(1);
    // The erased person cannot be told; the new holder was never exposed.
    expect(await svc.ctx.incidents.notices.forAccount('rc-victim')).toEqual([]);
    // The report still counts the erased person, under neither the new holder's handle nor country.
    const csv = await svc.ctx.incidents.reports.csv(id);
    expect(csv.split('\r\n').filter((l) => l.startsWith('rc-'))).toEqual([expect.stringMatching(/^rc-victim,,unknown,/), expect.stringMatching(/^rc-other,h_rcother,/)]);
  });
});

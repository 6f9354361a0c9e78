import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ReportFacts } from '../../src/incidents/index.js';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { notifiedIncident } from '../helpers/incidents.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: an exposure row keeps one time per (campaign, attacker, revealed account id): the first
 * answer that revealed the id (EventScan.account, Campaigns.recordExposures). The rule then judges
 * the row by that time alone: notices drop a row older than the account's mirroring (it was the
 * predecessor's), and the report shows it as the predecessor's row. When the app erases an account
 * and mirrors a new person under the same id, and the same attacker account finds the new holder
 * too, the new holder's exposure has no row of its own: it is in no notice and no report. The
 * person really exposed after the re-mirroring is never told (Art. 34) nor counted (Art. 33).
 * Fixed (sixteenth session): a pair keeps the first answer of each period (incidents/exposure-periods.ts).
 */
const MIN = 60_000;
const answer = answerer(88000, T0);

describeEachDialect('review: the new holder of an id is exposed by the same attacker', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['ra-bot', 'ra-victim', 'ra-other']) await mirrorAccount(svc, id, []);
    // The bot finds the first holder of ra-victim, and ra-other.
    await svc.ctx.eventPipeline.process([answer('ra-bot', 'ra-victim', 1), answer('ra-bot', 'ra-other', 2)]);
    // That person deletes their account; the app erases it and later gives the id to someone else.
    svc.clock.set(T0 + 20 * MIN);
    const del = await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/ra-victim', headers: svc.internal });
    expect(del.statusCode).toBeLessThan(300);
    svc.clock.set(T0 + 30 * MIN);
    await mirrorAccount(svc, 'ra-victim', [], { handle: 'new_holder' });
    // The same bot, still scanning, finds the new holder 10 minutes after it was mirrored.
    svc.clock.set(T0 + 40 * MIN);
    await svc.ctx.eventPipeline.process([answer('ra-bot', 'ra-victim', 40)]);
    svc.clock.set(T0 + 50 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('the new holder, shown to the bot after its mirroring, is notified and counted', async () => {
    const { campaignId } = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'ra-cluster', accountIds: ['ra-bot'], score: 0.9, evidence: {} });
    svc.clock.set(T0 + 60 * MIN);
    const id = await notifiedIncident(svc, [campaignId]);

    expect(await svc.ctx.incidents.notices.forAccount('ra-other')).toHaveLength(1);
    // The new holder was shown to ra-bot at T0+40min, after its own mirroring at T0+30min.
    const mine = await svc.ctx.incidents.notices.forAccount('ra-victim');
    expect(mine).toHaveLength(1);
    expect(mine[0]!.exposure.firstAt).toBe(new Date(T0 + 40 * MIN).toISOString());
    // Three people were exposed: ra-other, the erased first holder of ra-victim, and its new holder.
    const csv = await svc.ctx.incidents.reports.csv(id);
    expect(csv).toContain('ra-victim,new_holder,');
    const facts = (await svc.ctx.incidents.reports.document(id)).phases[0]!.facts as ReportFacts;
    expect(facts.subjects.total).toBe(3);
    // The console's account page: the holder was exposed from its own first answer, not its predecessor's.
    const campaigns = await svc.ctx.incidents.campaigns.forAccount('ra-victim');
    expect(campaigns).toEqual([expect.objectContaining({ campaignId, role: 'exposed', firstExposedAt: T0 + 40 * MIN })]);
  });
});

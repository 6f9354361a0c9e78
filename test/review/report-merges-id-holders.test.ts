import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ReportFacts } from '../../src/incidents/index.js';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { notifiedIncident } from '../helpers/incidents.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: incident-report.ts exposureRows groups the evidence by revealed account id alone. An id
 * the app erased and mirrored again is two people (exposure-rule.ts MIRRORED_SKEW_MS; the notices
 * tell the new holder only of what was shown of it since its mirroring), yet the report folds both
 * into one row: its first exposure is the predecessor's, so the row shows no handle and country
 * `unknown`, counts the attacker accounts of both, and the new holder, who got an Art. 34 notice,
 * is no data subject of the report. facts.subjects.total is one short of the people exposed (and of
 * the notice count plus the erased person), and the CSV has no row for the person just notified.
 */
const MIN = 60_000;
const answer = answerer(89500, T0);

describeEachDialect('review: the report folds two holders of one id into one subject', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['rh-bot1', 'rh-bot2', 'rh-victim']) await mirrorAccount(svc, id, []);
    // rh-bot1 finds the first holder of rh-victim.
    await svc.ctx.eventPipeline.process([answer('rh-bot1', 'rh-victim', 1)]);
    // That person is erased; the id is later mirrored for someone else.
    svc.clock.set(T0 + 20 * MIN);
    const del = await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/rh-victim', headers: svc.internal });
    expect(del.statusCode).toBeLessThan(300);
    svc.clock.set(T0 + 30 * MIN);
    await mirrorAccount(svc, 'rh-victim', [], { handle: 'new_holder' });
    // rh-bot2, of the same fleet, finds the new holder.
    svc.clock.set(T0 + 40 * MIN);
    await svc.ctx.eventPipeline.process([answer('rh-bot2', 'rh-victim', 40)]);
    svc.clock.set(T0 + 50 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('the erased person and the new holder are two data subjects', async () => {
    const { campaignId } = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'rh-cluster', accountIds: ['rh-bot1', 'rh-bot2'], score: 0.9, evidence: {} });
    svc.clock.set(T0 + 60 * MIN);
    const id = await notifiedIncident(svc, [campaignId]);

    // The notices already treat them apart: the new holder is told of rh-bot2 alone.
    const mine = await svc.ctx.incidents.notices.forAccount('rh-victim');
    expect(mine).toHaveLength(1);
    expect(mine[0]!.exposure.attackerAccounts).toBe(1);
    expect(mine[0]!.exposure.firstAt).toBe(new Date(T0 + 40 * MIN).toISOString());

    // The report must too: the new holder's row (its handle), and the erased person's (none).
    const rows = (await svc.ctx.incidents.reports.csv(id)).split('\r\n').filter((l) => l.startsWith('rh-'));
    expect(rows).toEqual([expect.stringMatching(/^rh-victim,,unknown,2026-11-01T12:01:00.000Z,2026-11-01T12:01:00.000Z,1,/), expect.stringMatching(/^rh-victim,new_holder,unknown,2026-11-01T12:40:00.000Z,2026-11-01T12:40:00.000Z,1,/)]);
    const facts = (await svc.ctx.incidents.reports.document(id)).phases[0]!.facts as ReportFacts;
    expect(facts.subjects.total).toBe(2);
  });
});

import { afterAll, beforeAll, expect, it } from 'vitest';
import { exposureRule } from '../src/incidents/exposure-rule.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * exposure-rule.ts: which stored exposures expose a person, as a row filter and as SQL, the two
 * agreeing; a reinstatement counts only for the conduct it judged.
 */
const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const C1 = 'cmp-eu-1';
const C2 = 'cmp-eu-2';

describeEachDialect('exposure rule', (dialect) => {
  let svc: TestService;
  let seq = 0;
  const action = (account_id: string, action: 'suspend' | 'reinstate', at: number, reversed_by: string | null = null) => ({
    id: `ea-eu-${++seq}`,
    at,
    action,
    account_id,
    cluster_id: null,
    campaign_id: null,
    actor: action === 'suspend' ? 'engine' : 'op',
    reason: 'test',
    evidence: '{}',
    expires_at: null,
    reversed_by,
  });
  const exposure = (campaign_id: string, attacker_account_id: string, revealed_account_id: string, minute: number) => ({ campaign_id, attacker_account_id, revealed_account_id, at: T0 + minute * MIN });

  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    const db = svc.ctx.db.kysely;
    const campaign = (id: string, detected: number) => ({ id, cluster_id: `cl-${id}`, detected_at: detected, first_seen: T0, last_seen: detected, status: 'open' as const, score: 0.9, summary: '{}', evidence: '{}', updated_at: detected });
    await db.insertInto('campaigns').values([campaign(C1, T0 + 10 * MIN), campaign(C2, T0 + 100 * MIN)]).execute();
    await db
      .insertInto('campaign_accounts')
      .values([
        ...['eu-bot', 'eu-person', 'eu-old', 'eu-resuspended'].map((account_id) => ({ campaign_id: C1, account_id })),
        { campaign_id: C2, account_id: 'eu-person' },
      ])
      .execute();
    await db
      .insertInto('enforcement_actions')
      .values([
        // Suspended with the campaign, reinstated on appeal after it was detected: a person.
        action('eu-person', 'suspend', T0 + 10 * MIN, 'ea-eu-2'),
        action('eu-person', 'reinstate', T0 + 20 * MIN),
        // Reinstated months before, for other conduct.
        action('eu-old', 'suspend', T0 - 120 * DAY, 'ea-eu-4'),
        action('eu-old', 'reinstate', T0 - 119 * DAY),
        // Reinstated, then suspended again: the suspension stands.
        action('eu-resuspended', 'suspend', T0 + 10 * MIN, 'ea-eu-6'),
        action('eu-resuspended', 'reinstate', T0 + 20 * MIN),
        action('eu-resuspended', 'suspend', T0 + 40 * MIN),
      ])
      .execute();
    await db
      .insertInto('exposures')
      .values([
        exposure(C1, 'eu-bot', 'v-bot', 1),
        exposure(C1, 'eu-bot', 'eu-person', 5),
        exposure(C1, 'eu-person', 'v-before', 2),
        exposure(C1, 'eu-person', 'v-after', 30),
        exposure(C1, 'eu-old', 'v-old-organic', -120 * 24 * 60),
        exposure(C1, 'eu-old', 'v-old-scan', 3),
        exposure(C1, 'eu-resuspended', 'v-resuspended', 4),
        // Its part in a campaign detected after the reinstatement was not judged; what it found before was.
        exposure(C2, 'eu-person', 'v-c2-later', 90),
        exposure(C2, 'eu-person', 'v-c2-before', 15),
      ])
      .execute();
  }, 60_000);
  afterAll(async () => svc?.stop());

  const expected = ['v-bot', 'v-c2-later', 'v-old-scan', 'v-resuspended'];

  it('counts what attackers revealed, not members, nor what a reinstatement judged', async () => {
    const db = svc.ctx.db.kysely;
    const rule = await exposureRule(db, [C1, C2]);
    const rows = await db.selectFrom('exposures').selectAll().where('campaign_id', 'in', [C1, C2]).execute();
    expect(rows.filter(rule.counts).map((r) => r.revealed_account_id).sort()).toEqual(expected);
    const bySql = await db.selectFrom('exposures').select('revealed_account_id').where('campaign_id', 'in', [C1, C2]).where(rule.where).execute();
    expect(bySql.map((r) => r.revealed_account_id).sort()).toEqual(expected);
  });

  it('is a person only in the campaign its reinstatement judged', async () => {
    const rule = await exposureRule(svc.ctx.db.kysely, [C1, C2]);
    expect(rule.isPerson(C1, 'eu-person')).toBe(true);
    expect(rule.isPerson(C2, 'eu-person')).toBe(false);
    expect(rule.isPerson(C1, 'eu-old')).toBe(false);
    expect(rule.isPerson(C1, 'eu-resuspended')).toBe(false);
    expect(rule.isPerson(C1, 'eu-bot')).toBe(false);
  });

  it('judges a row that does not name its campaign as for the latest of them', async () => {
    const rule = await exposureRule(svc.ctx.db.kysely, [C1, C2]);
    const row = (revealed: string, minute: number) => ({ attacker_account_id: 'eu-person', revealed_account_id: revealed, at: T0 + minute * MIN });
    expect(rule.counts(row('v-before', 2))).toBe(false);
    expect(rule.counts(row('v-after', 30))).toBe(true);
  });

  it("an account's campaigns list it as exposed where its campaign's report does", async () => {
    const campaigns = svc.ctx.incidents.campaigns;
    expect(await campaigns.forAccount('v-after')).toEqual([]);
    expect(await campaigns.forAccount('v-c2-later')).toEqual([expect.objectContaining({ campaignId: C2, role: 'exposed', firstExposedAt: T0 + 90 * MIN })]);
    expect((await campaigns.forAccount('eu-person')).map((c) => `${c.campaignId}:${c.role}`).sort()).toEqual([`${C1}:attacker`, `${C2}:attacker`]);
  });
});

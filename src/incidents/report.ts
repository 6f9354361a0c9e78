import type { Kysely } from 'kysely';
import type { CampaignsTable, Database } from '../db/schema.js';
import { iso, parseJson, type JsonValue } from './common.js';
import { exposureRule } from './exposure-rule.js';
import type { CampaignSummary } from './summary.js';

/**
 * A campaign as a disclosure needs it: when, from where, what was probed, and every account
 * exposed, with when it was first exposed and to how many attacker accounts. Plain JSON, so it
 * can be handed to a regulator or to the people affected without further processing.
 */
export interface CampaignReport {
  id: string;
  clusterId: string;
  status: CampaignsTable['status'];
  score: number;
  detectedAt: string;
  window: { firstSeen: string; lastSeen: string };
  accounts: Array<{
    accountId: string;
    /** 'erased' when the app has since deleted the account. */
    findguardStatus: 'active' | 'suspended' | 'erased';
    /** Distinct accounts revealed to this one. */
    revealed: number;
  }>;
  lookups: CampaignSummary['lookups'];
  numbersAsked: number;
  origins: { countries: CampaignSummary['countries']; asns: CampaignSummary['asns'] };
  blocks: CampaignSummary['blocks'];
  exposures: {
    /** Distinct accounts exposed. */
    count: number;
    /** (attacker account, exposed account) pairs. */
    pairs: number;
    accounts: Array<{ accountId: string; firstExposedAt: string; attackerAccounts: number }>;
  };
  evidence: JsonValue;
  generatedAt: string;
}

/** The report, or undefined for an unknown campaign. */
export async function campaignReport(db: Kysely<Database>, id: string, now: number): Promise<CampaignReport | undefined> {
  const c = await db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst();
  if (!c) return undefined;
  const summary = (parseJson(c.summary) ?? {}) as Partial<CampaignSummary>;

  const members = await db
    .selectFrom('campaign_accounts as ca')
    .leftJoin('accounts as a', 'a.id', 'ca.account_id')
    .select(['ca.account_id', 'a.fg_status'])
    .where('ca.campaign_id', '=', id)
    .orderBy('ca.account_id')
    .execute();
  // Who counts as exposed is the one rule the notices, the incident report and the campaign's counts use.
  const rule = await exposureRule(db, [id]);
  const perAttacker = await db
    .selectFrom('exposures')
    // A pair may hold a row per period (exposure-periods.ts): ids and accounts are counted, not rows.
    .select(['attacker_account_id', (eb) => eb.fn.count<number>('revealed_account_id').distinct().as('n')])
    .where('campaign_id', '=', id)
    .where(rule.where)
    .groupBy('attacker_account_id')
    .execute();
  const revealedBy = new Map(perAttacker.map((r) => [r.attacker_account_id, Number(r.n)]));

  const exposed = await db
    .selectFrom('exposures')
    .select(['revealed_account_id', (eb) => eb.fn.min('at').as('first'), (eb) => eb.fn.count<number>('attacker_account_id').distinct().as('attackers')])
    .where('campaign_id', '=', id)
    .where(rule.where)
    .groupBy('revealed_account_id')
    .execute();
  // Sorted here, not in SQL: ordering by an aggregate alias is spelled differently per dialect.
  const exposedList = exposed
    .map((r) => ({ accountId: r.revealed_account_id, first: Number(r.first), attackerAccounts: Number(r.attackers) }))
    .sort((a, b) => a.first - b.first || (a.accountId < b.accountId ? -1 : 1));
  let pairs = 0;
  for (const e of exposedList) pairs += e.attackerAccounts;

  return {
    id: c.id,
    clusterId: c.cluster_id,
    status: c.status,
    score: Number(c.score),
    detectedAt: iso(Number(c.detected_at)),
    window: { firstSeen: iso(Number(c.first_seen)), lastSeen: iso(Number(c.last_seen)) },
    accounts: members.map((m) => ({ accountId: m.account_id, findguardStatus: m.fg_status ?? 'erased', revealed: revealedBy.get(m.account_id) ?? 0 })),
    lookups: summary.lookups ?? { allowed: 0, refused: 0, challenged: 0 },
    numbersAsked: summary.numbersAsked ?? 0,
    origins: { countries: summary.countries ?? [], asns: summary.asns ?? [] },
    blocks: summary.blocks ?? { distinct: 0, numbers: 0, list: [], truncated: false },
    exposures: {
      count: exposedList.length,
      pairs,
      accounts: exposedList.map((e) => ({ accountId: e.accountId, firstExposedAt: iso(e.first), attackerAccounts: e.attackerAccounts })),
    },
    evidence: parseJson(c.evidence),
    generatedAt: iso(now),
  };
}

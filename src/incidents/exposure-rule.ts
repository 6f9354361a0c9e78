import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely';
import type { Database, ExposuresTable } from '../db/schema.js';
import { PeriodBounds } from './exposure-periods.js';

/**
 * Which stored exposures expose a person: one rule for everything that counts or lists a
 * campaign's or an incident's exposures (the notices, the incident report and its evidence, the
 * campaign's disclosure report, its summary and the incident threshold, the console's CSV, an
 * account's campaigns). Exposure rows stay as recorded; the rule is applied where they are read,
 * so a later reinstatement changes what they say without rewriting them.
 *
 * An exposure counts unless
 * - the account revealed is a member of the campaigns (one revealed before it was known as a
 *   member keeps its row, yet is no victim), or
 * - an operator's reinstatement of the account it was revealed to judged it: see `judged`.
 */

/** What the rule reads of an exposure row; without `campaign_id` it decides as for the strictest of the campaigns. */
export interface ExposureFacts {
  campaign_id?: string;
  attacker_account_id: string;
  revealed_account_id: string;
  at: ExposuresTable['at'] | string;
}

export interface ExposureRule {
  /** Whether this exposure exposes a person. */
  counts: (e: ExposureFacts) => boolean;
  /** The same rule as a condition on a query over `exposures` (not aliased) of these campaigns. */
  where: (eb: ExpressionBuilder<Database, 'exposures'>) => Expression<SqlBool>;
  /** Whether the member is a person for the campaign, not one of its attacker accounts (see `judged`). */
  isPerson: (campaignId: string, accountId: string) => boolean;
}

const CHUNK = 500;

/**
 * An account id the app erased and mirrored again is another person: exposures from before its
 * mirroring were its predecessor's. A node's clock may lag the one that mirrored it (the README
 * asks for NTP, a second or so): an exposure this little before the mirroring is still its own.
 */
export const MIRRORED_SKEW_MS = 5_000;

/** Where the answers about the holder mirrored at `mirroredAt` begin: earlier ones were its predecessor's. */
export function holderSince(mirroredAt: number): number {
  return mirroredAt - MIRRORED_SKEW_MS;
}

/**
 * The rule for these campaigns read as of now: their members, when each was detected, and the
 * reinstatements in force among the members. `db` may be a transaction (the campaign's own
 * recording reads the rows it has just written).
 */
export async function exposureRule(db: Kysely<Database>, campaignIds: readonly string[]): Promise<ExposureRule> {
  const ids = [...new Set(campaignIds)].sort();
  const members = new Set<string>();
  const detected = new Map<string, number>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    for (const r of await db.selectFrom('campaign_accounts').select('account_id').where('campaign_id', 'in', chunk).execute()) members.add(r.account_id);
    for (const r of await db.selectFrom('campaigns').select(['id', 'detected_at']).where('id', 'in', chunk).execute()) detected.set(r.id, Number(r.detected_at));
  }
  const reinstated = await reinstatedInForce(db, [...members]);
  // A row that does not say its campaign is judged against the latest detection: never more lenient than its own campaign.
  const latest = Math.max(-Infinity, ...detected.values());
  const detectedOf = (campaignId: string | undefined) => (campaignId === undefined ? latest : (detected.get(campaignId) ?? Infinity));
  const isPerson = (campaignId: string, accountId: string) => {
    const at = reinstated.get(accountId);
    return at !== undefined && judgedPart(at, detectedOf(campaignId));
  };

  return {
    isPerson,
    counts: (e) => {
      if (members.has(e.revealed_account_id)) return false;
      const at = reinstated.get(e.attacker_account_id);
      return at === undefined || !judged(at, Number(e.at), detectedOf(e.campaign_id));
    },
    where: (eb) => {
      if (ids.length === 0) return eb.and([]);
      const notMember = eb('revealed_account_id', 'not in', eb.selectFrom('campaign_accounts').select('account_id').where('campaign_id', 'in', ids));
      const exempt: Array<Expression<SqlBool>> = [];
      for (const c of ids) {
        const whole: string[] = [];
        const before: Array<Expression<SqlBool>> = [];
        for (const [account, at] of reinstated) {
          if (judgedPart(at, detectedOf(c))) whole.push(account);
          else before.push(eb.and([eb('attacker_account_id', '=', account), eb('at', '<=', at)]));
        }
        if (whole.length > 0) before.push(eb('attacker_account_id', 'in', whole));
        if (before.length > 0) exempt.push(eb.and([eb('campaign_id', '=', c), eb.or(before)]));
      }
      return exempt.length === 0 ? notMember : eb.and([notMember, eb.not(eb.or(exempt))]);
    },
  };
}

/**
 * Whether an operator's reinstatement at `reinstatedAt` judged the exposure made at `exposedAt` in
 * a campaign detected at `detectedAt`: what the account revealed is then a person's, not an attack.
 *
 * A reinstatement is a judgement of the conduct the operator had before them, so it is bounded in
 * time (as the engine's own grace is, sparedIfReinstatedSince), never "any reinstatement ever":
 * - it judged every answer the account had got by then: those were the person's own lookups;
 * - made after the campaign was detected, it judged the account's part in the campaign, and what
 *   the account finds afterwards is the same person using the app (an open campaign keeps
 *   recording its members' answers), so that is no exposure either;
 * - made before the campaign, it judged other conduct: what the account revealed after it, in a
 *   campaign the detector then caught it in, counts, as for any attacker account. Bounding by the
 *   account's first exposure instead would let an old appeal exempt a later scan whenever the
 *   account's earlier organic answers are still among the stored events. A person the account
 *   found before the reinstatement and again in the later scan has a row for each (a pair keeps
 *   the first answer after every reinstatement: exposure-periods.ts), so the scan's counts.
 * A later suspension that stands overrides the reinstatement (reinstatedInForce). The campaign's
 * detection stands for when the account became part of it: membership has no time of its own, so
 * an account added to a long-open campaign after a reinstatement made since its detection is
 * taken as judged.
 */
function judged(reinstatedAt: number, exposedAt: number, detectedAt: number): boolean {
  return exposedAt <= reinstatedAt || judgedPart(reinstatedAt, detectedAt);
}

/** The reinstatement judged the account's whole part in the campaign (see `judged`). */
function judgedPart(reinstatedAt: number, detectedAt: number): boolean {
  return reinstatedAt > detectedAt;
}

/**
 * Of these accounts, those an operator reinstated and findguard has not suspended since, with the
 * time of the latest reinstatement. A reinstatement lifts every open suspension, so a suspension
 * still standing came after it and overrides it.
 */
export async function reinstatedInForce(db: Kysely<Database>, accountIds: readonly string[]): Promise<Map<string, number>> {
  const ids = [...new Set(accountIds)].sort();
  const out = new Map<string, number>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const rows = await db
      .selectFrom('enforcement_actions')
      .select(['account_id', 'action', 'at'])
      .where('account_id', 'in', chunk)
      .where((eb) => eb.or([eb('action', '=', 'reinstate'), eb.and([eb('action', '=', 'suspend'), eb('reversed_by', 'is', null)])]))
      .execute();
    const suspended = new Set(rows.filter((r) => r.action === 'suspend').map((r) => r.account_id));
    for (const r of rows) {
      if (r.action !== 'reinstate' || suspended.has(r.account_id)) continue;
      out.set(r.account_id, Math.max(out.get(r.account_id) ?? -Infinity, Number(r.at)));
    }
  }
  return out;
}

/** The rule as a filter on exposure rows (what the notices and the incident report's evidence use). */
export async function exposureCounts(db: Kysely<Database>, campaignIds: readonly string[]): Promise<ExposureRule['counts']> {
  return (await exposureRule(db, campaignIds)).counts;
}

/**
 * The moments that split one attacker account's answers about an id (exposure-periods.ts): the
 * moment after each operator's reinstatement of it (`judged` exempts answers up to it), and per id,
 * its current holder's mirroring less the skew above. Every reinstatement, not only the one in
 * force: one a later suspension overrides splits nothing the rule then reads wrongly, and the row
 * it adds is an answer all the same.
 */
export async function periodBounds(db: Kysely<Database>, attackerId: string, holders?: Map<string, number | null>): Promise<PeriodBounds> {
  const reinstated = await db.selectFrom('enforcement_actions').select('at').where('account_id', '=', attackerId).where('action', '=', 'reinstate').execute();
  return new PeriodBounds(
    reinstated.map((r) => Number(r.at) + 1),
    async (ids) => {
      const found = new Map<string, number>();
      for (let i = 0; i < ids.length; i += CHUNK) {
        const rows = await db.selectFrom('accounts').select(['id', 'mirrored_at']).where('id', 'in', ids.slice(i, i + CHUNK)).execute();
        for (const r of rows) found.set(r.id, holderSince(Number(r.mirrored_at)));
      }
      return found;
    },
    holders,
  );
}

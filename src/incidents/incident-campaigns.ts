import type { Kysely } from 'kysely';
import { isPostgres } from '../db/dialect.js';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';

/**
 * The campaigns an incident names. A campaign belongs to one incident at most, whoever opens it
 * (an operator, or the engine past its threshold) and whatever that incident's status: notices are
 * unique per (incident, account) only, so a second incident for the same campaign told every
 * exposed person of the same exposure twice and gave the regulator two reports counting the same
 * people (test/review/two-incidents-one-campaign-notices). New information goes into the existing
 * incident (a supplement), which the refusal names.
 */

/**
 * Checks, under the campaigns' row locks (PostgreSQL; SQLite's writers take turns), that every
 * campaign exists and none is named by an incident yet. Two operators, or an operator and the
 * engine, opening an incident for one campaign at once take turns here, and the second is refused.
 */
export async function claimCampaigns(tx: Kysely<Database>, ids: readonly string[]): Promise<void> {
  const sorted = [...new Set(ids)].sort();
  const q = tx.selectFrom('campaigns').select('id').where('id', 'in', sorted).orderBy('id');
  const found = await (isPostgres(tx) ? q.forUpdate() : q).execute();
  const known = new Set(found.map((f) => f.id));
  const missing = sorted.filter((c) => !known.has(c));
  if (missing.length > 0) throw new AppError('invalid_request', 'unknown campaign', { campaignIds: missing });
  const linked = await tx.selectFrom('incident_campaigns').select(['incident_id', 'campaign_id']).where('campaign_id', 'in', sorted).orderBy('incident_id').orderBy('campaign_id').execute();
  const first = linked[0];
  if (first) {
    throw new AppError('conflict', `campaign ${first.campaign_id} already has incident ${first.incident_id}: add to that incident (a supplement) instead`, {
      reason: 'campaign_has_incident',
      incidentId: first.incident_id,
      campaignIds: [...new Set(linked.filter((l) => l.incident_id === first.incident_id).map((l) => l.campaign_id))],
    });
  }
}

/** Locks one campaign's row (PostgreSQL) and answers whether an incident names it: the engine's check, taking turns with claimCampaigns. */
export async function campaignHasIncident(tx: Kysely<Database>, campaignId: string): Promise<boolean> {
  const q = tx.selectFrom('campaigns').select('id').where('id', '=', campaignId);
  await (isPostgres(tx) ? q.forUpdate() : q).execute();
  return (await tx.selectFrom('incident_campaigns').select('incident_id').where('campaign_id', '=', campaignId).executeTakeFirst()) !== undefined;
}

import type { Kysely, Selectable } from 'kysely';
import type { Database, EnforcementActionsTable } from '../db/schema.js';
import { parseJson, type JsonValue } from './common.js';

/** The read side of enforcement (enforcer.ts writes): what is in force on an account, and its history. */

export type EnforcementKind = EnforcementActionsTable['action'];

export interface EnforcementAction {
  id: string;
  at: number;
  action: EnforcementKind;
  accountId: string;
  clusterId: string | null;
  campaignId: string | null;
  actor: string;
  reason: string;
  evidence: JsonValue;
  expiresAt: number | null;
  reversedBy: string | null;
}

export interface ActiveRestrictions {
  suspended: boolean;
  throttledUntil: number | null;
  challengeUntil: number | null;
}

/** What is in force against the account at `now`: the limits' view of enforcement. */
export async function activeRestrictions(db: Kysely<Database>, accountId: string, now: number): Promise<ActiveRestrictions> {
  const account = await db.selectFrom('accounts').select('fg_status').where('id', '=', accountId).executeTakeFirst();
  const rows = await db
    .selectFrom('enforcement_actions')
    .select(['action', (eb) => eb.fn.max('expires_at').as('until')])
    .where('account_id', '=', accountId)
    .where('action', 'in', ['throttle', 'challenge'])
    .where('reversed_by', 'is', null)
    .where('expires_at', '>', now)
    .groupBy('action')
    .execute();
  const until = (kind: EnforcementKind): number | null => {
    const r = rows.find((x) => x.action === kind);
    return r?.until == null ? null : Number(r.until);
  };
  return { suspended: account?.fg_status === 'suspended', throttledUntil: until('throttle'), challengeUntil: until('challenge') };
}

/** The account's enforcement history, newest first. */
export async function actionsFor(db: Kysely<Database>, accountId: string, limit = 200): Promise<EnforcementAction[]> {
  const rows = await db
    .selectFrom('enforcement_actions')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toAction);
}

function toAction(r: Selectable<EnforcementActionsTable>): EnforcementAction {
  return {
    id: r.id,
    at: Number(r.at),
    action: r.action,
    accountId: r.account_id,
    clusterId: r.cluster_id,
    campaignId: r.campaign_id,
    actor: r.actor,
    reason: r.reason,
    evidence: parseJson(r.evidence),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    reversedBy: r.reversed_by,
  };
}

import type { Tx } from '../db/transaction.js';
import { parseJson } from './common.js';
import { periodBounds } from './exposure-rule.js';

/**
 * What other incidents' notices already told an account, so that a later incident tells each
 * exposure once ("one notice per exposure, whichever incident tells it first", README), and what
 * the notice being written records of it.
 */

/**
 * Whether the attacker account was recorded showing the account in a later period than the one a
 * notice told of (`toldUpTo`: the latest exposure that notice accounted for; Infinity: unknown,
 * so never). Answers within one period are one exposure, however many events retention kept.
 */
export async function foundAgain(tx: Tx, attacker: string, accountId: string, toldUpTo: number, recorded: number): Promise<boolean> {
  if (!Number.isFinite(toldUpTo) || recorded <= toldUpTo) return false;
  const bounds = await periodBounds(tx, attacker);
  await bounds.load([accountId]);
  return bounds.startOf(accountId, recorded) > bounds.startOf(accountId, toldUpTo);
}

/** JSON has no Infinity: an unknown extent is stored as null and read back as Infinity. */
export function finite(at: number | undefined): number | null {
  return at !== undefined && Number.isFinite(at) ? at : null;
}

/**
 * Account -> the attacker accounts another incident's notice already told it of, each with the
 * latest exposure told: what each of that account's rows in other incidents recorded it told (a
 * covered row: what others had told, copied). A pair a campaign records after its notice was
 * written is not among them, so a later incident tells it; nor is a later period of a pair told
 * (the caller compares, foundAgain). A row written as a list of attacker ids (before the extent
 * was kept) stands for everything they showed, Infinity, as then; rows written before any of this
 * was recorded (told_attackers null) stand, as then, for every pair their incident's campaigns hold now.
 */
export async function toldElsewhere(tx: Tx, incidentId: string, accountIds: string[]): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  const add = (accountId: string, attacker: string, at: number) => {
    const told = out.get(accountId) ?? new Map<string, number>();
    told.set(attacker, Math.max(told.get(attacker) ?? -Infinity, at));
    out.set(accountId, told);
  };
  const rows = await tx
    .selectFrom('exposure_notices')
    .select(['account_id', 'told_attackers'])
    .where('account_id', 'in', accountIds)
    .where('incident_id', '<>', incidentId)
    // Notices of incidents that name their campaigns, as the rows before this was recorded are read.
    .where('incident_id', 'in', (eb) => eb.selectFrom('incident_campaigns').select('incident_id'))
    .execute();
  let legacy = false;
  for (const r of rows) {
    if (r.told_attackers === null) legacy = true;
    else for (const [attacker, at] of toldList(parseJson(r.told_attackers))) add(r.account_id, attacker, at);
  }
  if (!legacy) return out;
  const old = await tx
    .selectFrom('exposure_notices as n')
    .innerJoin('incident_campaigns as ic', 'ic.incident_id', 'n.incident_id')
    .innerJoin('exposures as e', (j) => j.onRef('e.campaign_id', '=', 'ic.campaign_id').onRef('e.revealed_account_id', '=', 'n.account_id'))
    .select(['n.account_id', 'e.attacker_account_id'])
    .where('n.account_id', 'in', accountIds)
    .where('n.incident_id', '<>', incidentId)
    .where('n.told_attackers', 'is', null)
    .execute();
  for (const r of old) add(r.account_id, r.attacker_account_id, Infinity);
  return out;
}

/** A notice's told attackers: `{id: latest exposure told}`, or a plain list of ids (told in full). */
function toldList(value: unknown): Array<[string, number]> {
  if (Array.isArray(value)) return value.filter((a): a is string => typeof a === 'string').map((a) => [a, Infinity]);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).map(([a, at]) => [a, typeof at === 'number' ? at : Infinity]);
}

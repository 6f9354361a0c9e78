import { createHash } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Database, DecisionsTable } from '../db/schema.js';
import { transaction } from '../db/transaction.js';
import { ENGINE_ACTOR } from './common.js';
import { toDecision, type StandingDecision } from './decisions.js';

/**
 * The engine's decisions in shadow mode (`abuse.mode: shadow`): what it would have done, stored as
 * decision rows marked shadow and listed as "would" beside the rest, so a team watching a policy
 * before enforcing it sees its verdicts where it will later see the real ones. Nothing else is
 * written: no enforcement action, no account status, no campaign, no webhook, no sign-up hold;
 * and no node enforces a shadow row (decision-cache.ts keyOf skips them).
 *
 * Idempotent against what already stands: an account with a standing shadow row of the same
 * action from the engine gets no second one, so a restarted consumer (whose rebuilt ledger knows
 * only enforced actions) or a second stage does not list the same verdict twice.
 */

export interface ShadowDecision {
  accountIds: readonly string[];
  action: 'throttle' | 'challenge' | 'suspend';
  reason: string;
  /** null: until lifted (a suspension). */
  expiresAt: number | null;
  clusterId: string;
}

const CHUNK = 500;
const MAX_REASON = 1000;

export async function recordShadowDecisions(db: Kysely<Database>, list: readonly ShadowDecision[], now: number): Promise<StandingDecision[]> {
  const wanted = new Map<string, { d: ShadowDecision; accountId: string }>();
  for (const d of list) for (const id of d.accountIds) wanted.set(`${d.action}\u0000${id}`, { d, accountId: id });
  if (wanted.size === 0) return [];
  const items = [...wanted.values()];
  const out: StandingDecision[] = [];
  for (let i = 0; i < items.length; i += CHUNK) {
    const chunk = items.slice(i, i + CHUNK);
    const rows = await transaction(db, async (trx) => {
      const standing = await trx
        .selectFrom('decisions')
        .select(['subject', 'action'])
        .where('shadow', '=', 1)
        .where('source', '=', 'engine')
        .where('scope', '=', 'account')
        .where('lifted_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .where(
          'subject',
          'in',
          chunk.map((c) => c.accountId),
        )
        .execute();
      const have = new Set(standing.map((r) => `${r.action}\u0000${r.subject}`));
      const fresh: Array<Selectable<DecisionsTable>> = chunk
        .filter((c) => !have.has(`${c.d.action}\u0000${c.accountId}`))
        .map((c) => ({
          id: shadowId(c.d.action, c.accountId, now),
          scope: 'account',
          subject: c.accountId,
          action: c.d.action,
          reason: c.d.reason.slice(0, MAX_REASON),
          source: 'engine',
          actor: ENGINE_ACTOR,
          created_at: now,
          expires_at: c.d.expiresAt,
          lifted_at: null,
          lifted_by: null,
          lift_reason: null,
          cluster_id: c.d.clusterId,
          campaign_id: null,
          action_id: null,
          batch_id: null,
          changed_at: now,
          shadow: 1,
        }));
      if (fresh.length > 0) await trx.insertInto('decisions').values(fresh).execute();
      return fresh;
    });
    for (const r of rows) out.push(toDecision(r));
  }
  return out;
}

/**
 * Derived, not drawn: the engine in a simulation replays exactly only if recording its verdicts
 * takes nothing from the shared random source. Unique per (action, account, moment), which the
 * standing check above already makes unique.
 */
function shadowId(action: string, accountId: string, now: number): string {
  return `dec_would_${now.toString(36)}_${createHash('sha256').update(`${action}\u0000${accountId}`).digest('base64url').slice(0, 16)}`;
}

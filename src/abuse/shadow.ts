import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import { recordShadowDecisions, type ShadowDecision } from '../incidents/shadow-decisions.js';
import type { Decision } from './engine.js';

/**
 * In shadow mode the engine calls no enforcer; its verdicts are stored here as "would" rows
 * (src/incidents/shadow-decisions.ts) for the console's decisions page, and nothing else is done.
 * A failed write is logged, never thrown: watching a policy must not stall the event pipeline.
 */
export async function recordShadow(db: Kysely<Database> | undefined, decisions: readonly Decision[], now: number, logger: Logger): Promise<void> {
  if (!db || decisions.length === 0) return;
  const list: ShadowDecision[] = decisions.map((d) => ({
    accountIds: d.accountIds,
    action: d.action === 'suspend-account' || d.action === 'suspend-cluster' ? 'suspend' : d.action,
    reason: d.reason,
    expiresAt: d.until ?? null,
    clusterId: d.clusterId,
  }));
  try {
    await recordShadowDecisions(db, list, now);
  } catch (err) {
    logger.warn({ err: err instanceof Error ? err.message : String(err), decisions: decisions.length }, 'could not store the shadow decisions');
  }
}

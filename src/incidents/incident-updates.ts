import type { Tx } from '../db/transaction.js';
import type { Random } from '../util/random.js';
import { iso } from './common.js';
import { readIncident, readPhases, type IncidentStatus } from './incident-records.js';
import { enqueueWebhook, type IncidentChange } from './outbox.js';

/**
 * The `incident.updated` webhook (DESIGN §5): one per change to an incident, written in the
 * change's own transaction, so the app hears of every change that committed and of none that
 * rolled back. It carries ids, states and counts only: no title, notes or report text (free text an
 * operator wrote may hold anything), no operator name (it may be an email), never a phone number.
 */

/** Enqueues the incident's state after `change`; call it in the change's transaction, after the change. */
export async function enqueueIncidentUpdated(
  tx: Tx,
  incidentId: string,
  change: IncidentChange,
  previousStatus: IncidentStatus | null,
  by: 'operator' | 'engine',
  now: number,
  random: Random,
  onEnqueued?: () => void,
): Promise<void> {
  const incident = await readIncident(tx, incidentId);
  if (!incident) return;
  const phases = await readPhases(tx, incidentId);
  const last = phases.at(-1);
  await enqueueWebhook(
    tx,
    'incident.updated',
    {
      incidentId,
      change,
      status: incident.status,
      previousStatus,
      by,
      source: incident.source,
      campaignIds: [...incident.campaignIds],
      awareAt: iso(incident.awareAt),
      phase: last ? { number: last.number, kind: last.kind, status: last.status, approvals: last.approvals.length } : null,
      phases: phases.length,
      notices: incident.notices,
      at: iso(now),
    },
    now,
    random,
  );
  if (onEnqueued) tx.onCommit(onEnqueued);
}

import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Tx } from '../db/transaction.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { recordAudit, type AuditActor, type AuditTool } from './audit.js';
import { readIncident, type IncidentNotifier } from './incident-records.js';
import { enqueueIncidentUpdated } from './incident-updates.js';

/**
 * Art. 34 notices owed after the fact. Notices are sent on approved -> notified, and notified leads
 * only to closed; yet an account can be exposed after that: a late answer that catchUp records (a
 * stream's lag, a partition taken over), a campaign recorded again. Such an account is told as the
 * others were, through the same notifier (one notice per incident and account, so idempotent), its
 * webhook through the outbox, and the incident's count and audit trail say so.
 */

export interface LateNoticeDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  notifier?: IncidentNotifier;
  /** Who the audit names: the engine, as nobody decided it (ENGINE_INCIDENT_ACTOR). */
  by: { actor: AuditActor; from: string | null; tool: AuditTool };
  /** Told after a commit that enqueued a webhook, so a deliverer in this process sends it at once. */
  onEnqueued?: () => void;
}

export class LateNotices {
  constructor(private readonly deps: LateNoticeDeps) {}

  /** Sends what the notified incidents naming the campaign owe; returns the notices added. */
  async forCampaign(campaignId: string): Promise<number> {
    if (!this.deps.notifier) return 0;
    const rows = await this.deps.db
      .selectFrom('incident_campaigns as ic')
      .innerJoin('incidents as i', 'i.id', 'ic.incident_id')
      .select('i.id')
      .where('ic.campaign_id', '=', campaignId)
      .where('i.status', '=', 'notified')
      .execute();
    let added = 0;
    for (const r of rows) added += await this.forIncident(r.id);
    return added;
  }

  /**
   * Sends a notified incident's missing notices and counts each with the transaction that writes
   * it: the incident's count grows by what that transaction added, with an `incident.notify_late`
   * audit entry and the app's incident.updated beside it. Counting the notices themselves, not
   * comparing the count with the notice rows, holds when an erasure took notified accounts' rows
   * away, when a process dies between two chunks, and when two nodes send at once (each counts
   * only the rows it inserted).
   */
  async forIncident(id: string): Promise<number> {
    const notifier = this.deps.notifier;
    const incident = await readIncident(this.deps.db, id);
    if (!notifier || incident?.status !== 'notified') return 0;
    const at = this.deps.clock.now();
    const { created } = await notifier.notifyIncident(id, incident.campaignIds, new Date(at), { onAdded: (tx, added) => this.count(tx, id, added, at) });
    return created;
  }

  private async count(tx: Tx, id: string, added: number, at: number): Promise<void> {
    // The incident's row first: two nodes' chunks take turns on the count.
    await tx.updateTable('incidents').set({ updated_at: (eb) => eb.ref('updated_at') }).where('id', '=', id).execute();
    const row = await tx.selectFrom('incidents').select(['notices', 'status']).where('id', '=', id).executeTakeFirst();
    if (!row) return;
    const before = Number(row.notices ?? 0);
    const notices = before + added;
    await tx.updateTable('incidents').set({ notices, updated_at: at }).where('id', '=', id).execute();
    const reason = `${added} more account(s) exposed after the incident was notified`;
    const { by } = this.deps;
    await recordAudit(tx, { actor: by.actor, from: by.from, tool: by.tool, action: 'incident.notify_late', subject: `incident:${id}`, before: { notices: before }, after: { notices }, reason }, at, this.deps.random);
    // The app hears of the new count as of every other change (incident.updated), in this transaction.
    await enqueueIncidentUpdated(tx, id, 'notify_late', row.status, 'engine', at, this.deps.random, this.deps.onEnqueued);
  }
}

import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { transaction, type CommitLog } from '../db/transaction.js';
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
  log?: CommitLog;
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
   * Sends a notified incident's missing notices, then brings its count up to what the notifier
   * holds, with an `incident.notify_late` audit entry. The count is compared under the incident's
   * row lock, not taken from this call's writes: a process that died between the notices and the
   * count leaves it behind for the next call, and of two nodes each records only what it adds.
   */
  async forIncident(id: string): Promise<number> {
    const notifier = this.deps.notifier;
    const incident = await readIncident(this.deps.db, id);
    if (!notifier || incident?.status !== 'notified') return 0;
    const at = this.deps.clock.now();
    const { notices } = await notifier.notifyIncident(id, incident.campaignIds, new Date(at));
    return transaction(this.deps.db, async (tx) => {
      await tx.updateTable('incidents').set({ updated_at: (eb) => eb.ref('updated_at') }).where('id', '=', id).execute();
      const row = await tx.selectFrom('incidents').select('notices').where('id', '=', id).executeTakeFirst();
      const before = Number(row?.notices ?? 0);
      // Fewer than counted: erased accounts took their notices with them; the count says how many were sent.
      if (notices <= before) return 0;
      await tx.updateTable('incidents').set({ notices, updated_at: at }).where('id', '=', id).execute();
      const reason = `${notices - before} more account(s) exposed after the incident was notified`;
      const { by } = this.deps;
      await recordAudit(tx, { actor: by.actor, from: by.from, tool: by.tool, action: 'incident.notify_late', subject: `incident:${id}`, before: { notices: before }, after: { notices }, reason }, at, this.deps.random);
      // The app hears of the new count as of every other change (incident.updated), in this transaction.
      await enqueueIncidentUpdated(tx, id, 'notify_late', 'notified', 'engine', at, this.deps.random, this.deps.onEnqueued);
      return notices - before;
    }, this.deps.log);
  }
}

import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { transaction, type CommitLog, type Tx } from '../db/transaction.js';
import { AppError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { recordAudit, type AuditActor, type AuditTool } from './audit.js';
import { newId, type JsonValue } from './common.js';
import { campaignHasIncident, claimCampaigns } from './incident-campaigns.js';
import { checkFields, illegal, MAX_TEXT, owner, text, withAuthor } from './incident-checks.js';
import { evidenceBundle, reportFacts } from './incident-report.js';
import { enqueueIncidentUpdated } from './incident-updates.js';
import { LateNotices } from './late-notices.js';
import type { IncidentChange } from './outbox.js';
import {
  EMPTY_FIELDS,
  isLegalTransition,
  readIncident,
  readPhases,
  type IncidentNotifier,
  type IncidentRecord,
  type IncidentStatus,
  type PhaseFields,
  type PhaseRecord,
} from './incident-records.js';

/**
 * Every change to an incident, each with its audit entry in the same transaction: open (by an
 * operator, or by the engine once a campaign has exposed enough accounts), edit, submit, send
 * back, approve (two-person rule), supplement, notify (the IncidentNotifier), close.
 *
 * The incident's status follows its first report (phase 1): draft -> in_review -> approved, then
 * notified and closed. Supplements (phase 2, 3, …; Art. 33(4)) have their own draft -> in_review
 * -> approved under the same two-person rule, once the first report is approved.
 */

/** Who changes an incident and through what, as the audit trail records it. */
export interface IncidentActor {
  actor: AuditActor;
  from: string | null;
  tool: AuditTool;
}

export const ENGINE_INCIDENT_ACTOR: IncidentActor = { actor: { id: 'engine', name: 'engine', role: 'system', via: 'engine' }, from: null, tool: 'engine' };

export interface OpenIncidentInput {
  title: string;
  campaignIds: readonly string[];
  /** When operators became aware; default now. Never in the future. */
  awareAt?: number;
  owner?: string | null;
  notes?: string;
}

export interface IncidentChanges {
  title?: string;
  owner?: string | null;
  notes?: string;
  /** Only before the first report is approved: the clock it starts is what the report is judged against. */
  awareAt?: number;
}

export interface LifecycleDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  /** Sends the Art. 34 notices (src/incidents/notices*.ts); without one, notify answers 409 notifier_unavailable. */
  notifier?: IncidentNotifier;
  /** Exposed accounts at which the engine opens an incident for a campaign (policy incidents.openAtExposedAccounts); unset: never. */
  openAtExposedAccounts?: number;
  log?: CommitLog;
  /** Told after a commit that enqueued a webhook, so a deliverer in this process sends it at once. */
  onEnqueued?: () => void;
}

export const APPROVALS_NEEDED = 2;
const MAX_TITLE = 200;
const MAX_CAMPAIGNS = 100;

export const DEFAULT_NATURE =
  'Enumeration of the contact-discovery feature: attacker-controlled accounts submitted phone numbers they held or generated and learned, ' +
  'for each number registered and discoverable, which account it belongs to (account id and handle).';

export class IncidentLifecycle {
  private readonly late: LateNotices;
  constructor(private readonly deps: LifecycleDeps) {
    this.late = new LateNotices({ ...deps, by: ENGINE_INCIDENT_ACTOR });
  }

  get notifierConfigured(): boolean {
    return this.deps.notifier !== undefined;
  }

  /** Opens an incident for campaigns no incident names yet: 409 conflict naming the incident that does (incident-campaigns.ts). */
  async open(input: OpenIncidentInput, by: IncidentActor): Promise<IncidentRecord> {
    const now = this.deps.clock.now();
    const title = text(input.title, 'title', MAX_TITLE, 1);
    const campaignIds = [...new Set(input.campaignIds)];
    if (campaignIds.length === 0 || campaignIds.length > MAX_CAMPAIGNS) throw new AppError('invalid_request', `an incident names 1 to ${MAX_CAMPAIGNS} campaigns`);
    const awareAt = input.awareAt ?? now;
    if (!Number.isFinite(awareAt) || awareAt > now) throw new AppError('invalid_request', 'awareAt cannot be in the future');
    const id = await transaction(this.deps.db, async (tx) => {
      await claimCampaigns(tx, campaignIds);
      const incidentId = newId('inc', now, this.deps.random, 6);
      await this.insert(tx, { id: incidentId, title, awareAt, now, owner: owner(input.owner), notes: text(input.notes ?? '', 'notes', MAX_TEXT), openedBy: by.actor.name, source: 'operator', engineCampaignId: null, campaignIds, createdBy: by.actor.id });
      await this.audit(tx, by, 'incident.open', incidentId, { after: { title, campaignIds, awareAt: new Date(awareAt).toISOString() } }, now, null);
      return incidentId;
    }, this.deps.log);
    return this.get(id);
  }

  /**
   * The engine's hook: once a campaign has exposed `exposedAccounts` >= the policy's threshold, opens
   * an incident for it, unless one already names it. Idempotent across workers and nodes: the
   * unique engine_campaign_id makes a second opener's insert a no-op. Returns the id when it opened one.
   * Given the transaction that recorded the campaign's exposures, it joins it.
   */
  async openForCampaign(campaignId: string, exposedAccounts: number, db: Kysely<Database> = this.deps.db): Promise<string | undefined> {
    const threshold = this.deps.openAtExposedAccounts;
    if (threshold === undefined || exposedAccounts < threshold) return undefined;
    const now = this.deps.clock.now();
    return transaction(db, async (tx) => {
      if (await campaignHasIncident(tx, campaignId)) return undefined;
      const incidentId = newId('inc', now, this.deps.random, 6);
      const inserted = await tx
        .insertInto('incidents')
        .values(this.row({ id: incidentId, title: `Campaign ${campaignId}: ${exposedAccounts} accounts exposed`, awareAt: now, now, owner: null, notes: '', openedBy: 'engine', source: 'engine', engineCampaignId: campaignId }))
        .onConflict((oc) => oc.column('engine_campaign_id').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!inserted) return undefined;
      await this.insertRest(tx, incidentId, [campaignId], now, 'engine');
      await this.audit(tx, ENGINE_INCIDENT_ACTOR, 'incident.open', incidentId, { after: { campaignIds: [campaignId], exposedAccounts, threshold }, reason: `campaign exposed ${exposedAccounts} accounts (policy threshold ${threshold})` }, now, null);
      return incidentId;
    }, this.deps.log);
  }

  async get(id: string): Promise<IncidentRecord> {
    const incident = await readIncident(this.deps.db, id);
    if (!incident) throw new AppError('not_found', 'no such incident');
    return incident;
  }

  async update(id: string, changes: IncidentChanges, by: IncidentActor): Promise<IncidentRecord> {
    const now = this.deps.clock.now();
    await transaction(this.deps.db, async (tx) => {
      const before = await this.lockIncident(tx, id);
      if (before.status === 'closed') throw illegal(before.status, 'edit');
      const set: Partial<{ title: string; owner: string | null; notes: string; aware_at: number }> = {};
      if (changes.title !== undefined) set.title = text(changes.title, 'title', MAX_TITLE, 1);
      if (changes.owner !== undefined) set.owner = owner(changes.owner);
      if (changes.notes !== undefined) set.notes = text(changes.notes, 'notes', MAX_TEXT);
      if (changes.awareAt !== undefined) {
        if (before.status !== 'draft' && before.status !== 'in_review') throw illegal(before.status, 'change awareAt');
        if (!Number.isFinite(changes.awareAt) || changes.awareAt > now) throw new AppError('invalid_request', 'awareAt cannot be in the future');
        set.aware_at = changes.awareAt;
      }
      if (Object.keys(set).length === 0) return;
      if (set.aware_at !== undefined && set.aware_at !== before.awareAt && before.status === 'in_review') {
        // awareAt is in the report under review (its 72-hour clock): approvals given to the old
        // value do not cover the new one, and whoever moved it is one of the report's authors, so
        // the author alone cannot move it after an independent approval and then approve.
        const phase = await this.phase(tx, id, 1);
        await tx.deleteFrom('incident_approvals').where('incident_id', '=', id).where('phase', '=', 1).execute();
        await tx.updateTable('incident_phases').set({ authors: JSON.stringify(withAuthor(phase.authors, by.actor.id)), updated_at: now }).where('incident_id', '=', id).where('number', '=', 1).execute();
      }
      await tx.updateTable('incidents').set({ ...set, updated_at: now }).where('id', '=', id).execute();
      const pick = (r: IncidentRecord) => ({ title: r.title, owner: r.owner, notes: r.notes, awareAt: new Date(r.awareAt).toISOString() });
      const after = { ...before, ...(set.title !== undefined ? { title: set.title } : {}), ...(set.owner !== undefined ? { owner: set.owner } : {}), ...(set.notes !== undefined ? { notes: set.notes } : {}), ...(set.aware_at !== undefined ? { awareAt: set.aware_at } : {}) };
      await this.audit(tx, by, 'incident.update', id, { before: pick(before), after: pick(after) }, now, before.status);
    }, this.deps.log);
    return this.get(id);
  }

  /** Adds campaigns to an incident whose first report is still a draft; a campaign another incident names is refused (incident-campaigns.ts). */
  async linkCampaigns(id: string, campaignIds: readonly string[], by: IncidentActor): Promise<IncidentRecord> {
    const now = this.deps.clock.now();
    await transaction(this.deps.db, async (tx) => {
      const incident = await this.lockIncident(tx, id);
      if (incident.status !== 'draft') throw illegal(incident.status, 'link campaigns');
      const fresh = [...new Set(campaignIds)].filter((c) => !incident.campaignIds.includes(c));
      if (incident.campaignIds.length + fresh.length > MAX_CAMPAIGNS) throw new AppError('invalid_request', `an incident names at most ${MAX_CAMPAIGNS} campaigns`);
      if (fresh.length === 0) return;
      await claimCampaigns(tx, fresh);
      await tx.insertInto('incident_campaigns').values(fresh.map((campaign_id) => ({ incident_id: id, campaign_id, added_at: now }))).execute();
      await tx.updateTable('incidents').set({ updated_at: now }).where('id', '=', id).execute();
      await this.audit(tx, by, 'incident.link_campaigns', id, { before: { campaignIds: incident.campaignIds }, after: { campaignIds: [...incident.campaignIds, ...fresh].sort() } }, now, incident.status);
    }, this.deps.log);
    return this.get(id);
  }

  /** Edits a draft phase's judged fields; the editor becomes one of its authors. An approved phase is never edited. */
  async editPhase(id: string, number: number, fields: Partial<PhaseFields>, by: IncidentActor): Promise<PhaseRecord> {
    const now = this.deps.clock.now();
    await transaction(this.deps.db, async (tx) => {
      const incident = await this.lockIncident(tx, id);
      const phase = await this.phase(tx, id, number);
      if (phase.status === 'approved') throw new AppError('phase_locked', 'an approved phase cannot be edited; add a supplement', { phase: number });
      if (phase.status === 'in_review') throw new AppError('illegal_transition', 'a phase in review is sent back to draft before it is edited', { from: 'in_review', to: 'edit' });
      const next = checkFields({ ...phase.fields, ...fields });
      await tx
        .updateTable('incident_phases')
        .set({ fields: JSON.stringify(next), authors: JSON.stringify(withAuthor(phase.authors, by.actor.id)), updated_at: now })
        .where('incident_id', '=', id)
        .where('number', '=', number)
        .execute();
      await this.audit(tx, by, 'incident.phase_edit', id, { before: phase.fields as unknown as JsonValue, after: next as unknown as JsonValue, details: { phase: number } }, now, incident.status);
    }, this.deps.log);
    return this.phaseOf(id, number);
  }

  /** Sends the current draft phase for review (the first report also moves the incident to in_review). */
  async submit(id: string, by: IncidentActor): Promise<IncidentRecord> {
    return this.move(id, by, 'incident.submit', async (tx, incident, phase, now) => {
      if (phase.status !== 'draft') throw illegal(phase.status, 'in_review');
      if (phase.number === 1 && !isLegalTransition(incident.status, 'in_review')) throw illegal(incident.status, 'in_review');
      await tx
        .updateTable('incident_phases')
        .set({ status: 'in_review', submitted_by: by.actor.id, submitted_at: now, authors: JSON.stringify(withAuthor(phase.authors, by.actor.id)), updated_at: now })
        .where('incident_id', '=', id)
        .where('number', '=', phase.number)
        .execute();
      return phase.number === 1 ? 'in_review' : undefined;
    });
  }

  /** A reviewer sends the phase back to draft; its approvals so far are dropped. */
  async sendBack(id: string, reason: string, by: IncidentActor): Promise<IncidentRecord> {
    const why = text(reason, 'reason', MAX_TEXT, 1);
    return this.move(id, by, 'incident.send_back', async (tx, incident, phase, now) => {
      if (phase.status !== 'in_review') throw illegal(phase.status, 'draft');
      if (phase.number === 1 && !isLegalTransition(incident.status, 'draft')) throw illegal(incident.status, 'draft');
      await tx.deleteFrom('incident_approvals').where('incident_id', '=', id).where('phase', '=', phase.number).execute();
      await tx.updateTable('incident_phases').set({ status: 'draft', updated_at: now }).where('incident_id', '=', id).where('number', '=', phase.number).execute();
      return phase.number === 1 ? 'draft' : undefined;
    }, why);
  }

  /**
   * Records the operator's approval of the phase in review. The phase is approved once
   * APPROVALS_NEEDED different operators approved it and at least one of them neither wrote nor
   * submitted it: an author alone never approves their own report. Approval freezes the facts.
   */
  async approve(id: string, by: IncidentActor): Promise<IncidentRecord> {
    return this.move(id, by, 'incident.approve', async (tx, incident, phase, now) => {
      if (phase.status !== 'in_review') throw illegal(phase.status, 'approved');
      if (phase.approvals.some((a) => a.operatorId === by.actor.id)) throw new AppError('already_approved', 'this operator already approved this phase; a second operator must approve', { phase: phase.number });
      await tx.insertInto('incident_approvals').values({ incident_id: id, phase: phase.number, operator_id: by.actor.id, operator_name: by.actor.name, at: now }).execute();
      const approvers = [...phase.approvals.map((a) => a.operatorId), by.actor.id];
      const independent = approvers.some((a) => !phase.authors.includes(a));
      if (approvers.length < APPROVALS_NEEDED || !independent) return undefined;
      const facts = await reportFacts(tx, await evidenceBundle(tx, id, incident.campaignIds));
      await tx
        .updateTable('incident_phases')
        .set({ status: 'approved', approved_at: now, facts: JSON.stringify(facts), updated_at: now })
        .where('incident_id', '=', id)
        .where('number', '=', phase.number)
        .execute();
      return phase.number === 1 ? 'approved' : undefined;
    });
  }

  /** Opens the next phase (a supplement) once every phase before it is approved. */
  async supplement(id: string, fields: Partial<PhaseFields>, by: IncidentActor): Promise<PhaseRecord> {
    const now = this.deps.clock.now();
    const number = await transaction(this.deps.db, async (tx) => {
      const incident = await this.lockIncident(tx, id);
      if (incident.status === 'closed' || incident.status === 'draft' || incident.status === 'in_review') throw illegal(incident.status, 'supplement');
      const phases = await readPhases(tx, id);
      if (phases.some((p) => p.status !== 'approved')) throw new AppError('illegal_transition', 'the last supplement is not approved yet', { from: 'supplement_open', to: 'supplement' });
      const last = phases.at(-1);
      // Carries the last approved judgement forward: a supplement says what changed.
      const next = checkFields({ ...(last?.fields ?? EMPTY_FIELDS), supplement: '', ...fields });
      const n = (last?.number ?? 0) + 1;
      await tx
        .insertInto('incident_phases')
        .values({ incident_id: id, number: n, kind: 'supplement', status: 'draft', fields: JSON.stringify(next), authors: JSON.stringify([by.actor.id]), created_at: now, created_by: by.actor.id, updated_at: now, submitted_by: null, submitted_at: null, approved_at: null, facts: null })
        .execute();
      await tx.updateTable('incidents').set({ updated_at: now }).where('id', '=', id).execute();
      await this.audit(tx, by, 'incident.supplement', id, { after: next as unknown as JsonValue, details: { phase: n } }, now, incident.status);
      return n;
    }, this.deps.log);
    return this.phaseOf(id, number);
  }

  /**
   * approved -> notified: the notifier sends the Art. 34 notices first (idempotent per account), then
   * the status moves, only if it is still approved. A failing notifier leaves the incident approved.
   */
  async notify(id: string, by: IncidentActor): Promise<IncidentRecord> {
    const notifier = this.deps.notifier;
    const incident = await this.get(id);
    if (!isLegalTransition(incident.status, 'notified')) throw illegal(incident.status, 'notified');
    if (!notifier) throw new AppError('notifier_unavailable', 'no notifier is configured: exposure notices cannot be sent from this process');
    const at = this.deps.clock.now();
    await notifier.notifyIncident(id, incident.campaignIds, new Date(at));
    await transaction(this.deps.db, async (tx) => {
      const moved = await tx.updateTable('incidents').set({ status: 'notified', notified_at: at, updated_at: at }).where('id', '=', id).where('status', '=', 'approved').executeTakeFirst();
      if (Number(moved.numUpdatedRows) === 0) throw new AppError('illegal_transition', 'the incident changed meanwhile', { from: 'unknown', to: 'notified' });
      // Counted under the incident's row lock, not taken from the notifier's count above: another
      // node may have written notices since (a late answer, sent by its own notify), and a late
      // path that comes after this commit sees `notified` and adds its own (late-notices.ts).
      const total = await tx.selectFrom('exposure_notices').select((eb) => eb.fn.countAll<number>().as('n')).where('incident_id', '=', id).executeTakeFirstOrThrow();
      const notices = Number(total.n);
      await tx.updateTable('incidents').set({ notices }).where('id', '=', id).execute();
      await this.audit(tx, by, 'incident.notify', id, { before: { status: 'approved' }, after: { status: 'notified', notices } }, at, 'approved');
    }, this.deps.log);
    // An account exposed while those were written found the incident approved, not notified: sent now.
    await this.late.forIncident(id).catch((err: unknown) => this.deps.log?.error({ err: err instanceof Error ? err.message : String(err), incidentId: id }, 'late exposure notices not sent yet'));
    return this.get(id);
  }

  /** Notices owed to accounts the campaign exposed after its incident was notified (late-notices.ts). */
  notifyLate(campaignId: string): Promise<number> {
    return this.late.forCampaign(campaignId);
  }

  async close(id: string, reason: string, by: IncidentActor): Promise<IncidentRecord> {
    const why = text(reason, 'reason', MAX_TEXT, 1);
    const now = this.deps.clock.now();
    await transaction(this.deps.db, async (tx) => {
      const incident = await this.lockIncident(tx, id);
      if (!isLegalTransition(incident.status, 'closed')) throw illegal(incident.status, 'closed');
      const phases = await readPhases(tx, id);
      if (phases.some((p) => p.status !== 'approved')) throw new AppError('illegal_transition', 'a supplement is still open', { from: 'supplement_open', to: 'closed' });
      await tx.updateTable('incidents').set({ status: 'closed', closed_at: now, updated_at: now }).where('id', '=', id).execute();
      await this.audit(tx, by, 'incident.close', id, { before: { status: incident.status }, after: { status: 'closed' }, reason: why }, now, incident.status);
    }, this.deps.log);
    return this.get(id);
  }

  // --- helpers ---

  /** Runs a phase move on the current (last) phase under the incident's lock, moving the incident's status when it returns one. */
  private async move(
    id: string,
    by: IncidentActor,
    action: `incident.${'submit' | 'send_back' | 'approve'}`,
    fn: (tx: Tx, incident: IncidentRecord, phase: PhaseRecord, now: number) => Promise<IncidentStatus | undefined>,
    reason?: string,
  ): Promise<IncidentRecord> {
    const now = this.deps.clock.now();
    await transaction(this.deps.db, async (tx) => {
      const incident = await this.lockIncident(tx, id);
      if (incident.status === 'closed') throw illegal('closed', action.replace('incident.', ''));
      const phase = (await readPhases(tx, id)).at(-1);
      if (!phase) throw new AppError('not_found', 'the incident has no report phase');
      const to = await fn(tx, incident, phase, now);
      if (to) await tx.updateTable('incidents').set({ status: to, updated_at: now }).where('id', '=', id).execute();
      else await tx.updateTable('incidents').set({ updated_at: now }).where('id', '=', id).execute();
      const after = await readPhases(tx, id);
      const p = after.find((x) => x.number === phase.number);
      await this.audit(tx, by, action, id, { before: { status: incident.status, phase: phase.number, phaseStatus: phase.status }, after: { status: to ?? incident.status, phase: phase.number, phaseStatus: p?.status ?? phase.status, approvals: p?.approvals.map((a) => a.operatorName) ?? [] }, ...(reason !== undefined ? { reason } : {}) }, now, incident.status);
    }, this.deps.log);
    return this.get(id);
  }

  /**
   * Reads the incident inside the transaction after touching its row: the UPDATE takes PostgreSQL's
   * row lock (SQLite's write lock), so two operators approving at once take turns and both count.
   */
  private async lockIncident(tx: Tx, id: string): Promise<IncidentRecord> {
    const touched = await tx.updateTable('incidents').set({ updated_at: (eb) => eb.ref('updated_at') }).where('id', '=', id).executeTakeFirst();
    if (Number(touched.numUpdatedRows) === 0) throw new AppError('not_found', 'no such incident');
    const incident = await readIncident(tx, id);
    if (!incident) throw new AppError('not_found', 'no such incident');
    return incident;
  }

  private async phase(tx: Kysely<Database>, id: string, number: number): Promise<PhaseRecord> {
    const phase = (await readPhases(tx, id)).find((p) => p.number === number);
    if (!phase) throw new AppError('not_found', 'no such phase');
    return phase;
  }

  private async phaseOf(id: string, number: number): Promise<PhaseRecord> {
    return this.phase(this.deps.db, id, number);
  }

  private row(r: { id: string; title: string; awareAt: number; now: number; owner: string | null; notes: string; openedBy: string; source: 'operator' | 'engine'; engineCampaignId: string | null }) {
    return {
      id: r.id,
      title: r.title,
      status: 'draft' as const,
      aware_at: r.awareAt,
      created_at: r.now,
      updated_at: r.now,
      owner: r.owner,
      opened_by: r.openedBy,
      source: r.source,
      notes: r.notes,
      engine_campaign_id: r.engineCampaignId,
      notified_at: null,
      notices: null,
      closed_at: null,
    };
  }

  private async insert(tx: Tx, r: Parameters<IncidentLifecycle['row']>[0] & { campaignIds: string[]; createdBy: string }): Promise<void> {
    await tx.insertInto('incidents').values(this.row(r)).execute();
    await this.insertRest(tx, r.id, r.campaignIds, r.now, r.createdBy);
  }

  private async insertRest(tx: Tx, id: string, campaignIds: readonly string[], now: number, createdBy: string): Promise<void> {
    await tx.insertInto('incident_campaigns').values(campaignIds.map((campaign_id) => ({ incident_id: id, campaign_id, added_at: now }))).execute();
    const fields: PhaseFields = { ...EMPTY_FIELDS, nature: DEFAULT_NATURE };
    await tx
      .insertInto('incident_phases')
      .values({ incident_id: id, number: 1, kind: 'initial', status: 'draft', fields: JSON.stringify(fields), authors: JSON.stringify(createdBy === 'engine' ? [] : [createdBy]), created_at: now, created_by: createdBy, updated_at: now, submitted_by: null, submitted_at: null, approved_at: null, facts: null })
      .execute();
  }

  /** Every change's audit entry and its `incident.updated` webhook (incident-updates.ts), in the change's transaction. */
  private async audit(
    tx: Tx,
    by: IncidentActor,
    action: `incident.${IncidentChange}`,
    id: string,
    e: { before?: JsonValue; after?: JsonValue; reason?: string; details?: JsonValue },
    now: number,
    from: IncidentStatus | null,
  ): Promise<void> {
    await recordAudit(tx, { actor: by.actor, from: by.from, tool: by.tool, action, subject: `incident:${id}`, ...e }, now, this.deps.random);
    const change = action.slice('incident.'.length) as IncidentChange;
    await enqueueIncidentUpdated(tx, id, change, from, by.tool === 'engine' ? 'engine' : 'operator', now, this.deps.random, this.deps.onEnqueued);
  }
}

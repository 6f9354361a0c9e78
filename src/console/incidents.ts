import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import {
  APPROVALS_NEEDED,
  incidentClock,
  listIncidents,
  readPhases,
  type EvidenceBundle,
  type IncidentActor,
  type IncidentChanges,
  type IncidentClock,
  type IncidentLifecycle,
  type IncidentRecord,
  type IncidentReports,
  type IncidentStatus,
  type PhaseFields,
  type PhaseRecord,
  type PublishedKey,
  type ReportDocument,
  type SignedReport,
} from '../incidents/index.js';
import type { Clock } from '../util/clock.js';
import type { Actor } from './actor.js';
import { decodeCursor, encodeCursor } from './cursor.js';

/** An incident as the console shows it: its record, the 72-hour clock as of now, its report phases. */
export interface IncidentView {
  incident: IncidentRecord;
  clock: IncidentClock;
  phases: PhaseRecord[];
  approvalsNeeded: number;
  /** false: this process cannot send the Art. 34 notices (notify answers 409 notifier_unavailable). */
  notifierConfigured: boolean;
}

export interface IncidentListItem extends IncidentRecord {
  clock: IncidentClock;
}

/**
 * The console's incident use cases: thin over the lifecycle and the reports (src/incidents), which
 * check every move and write the audit trail; here the operator becomes the audit's actor.
 */
export class ConsoleIncidents {
  constructor(private readonly deps: { db: Kysely<Database>; clock: Clock; lifecycle: IncidentLifecycle; reports: IncidentReports }) {}

  /** A page of incidents, latest awareness first; `nextCursor` continues where it ended (null: the last page). */
  async list(q: { status?: IncidentStatus | undefined; limit?: number | undefined; cursor?: string | undefined }): Promise<{ items: IncidentListItem[]; nextCursor: string | null }> {
    const now = this.deps.clock.now();
    const limit = Math.max(1, Math.min(q.limit ?? 100, 500));
    const rows = await listIncidents(this.deps.db, { ...(q.status ? { status: q.status } : {}), limit: limit + 1, ...(q.cursor ? { after: decodeCursor(q.cursor) } : {}) });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    // The list does not read phases: a clock counts as stopped once the incident is past review.
    return {
      items: page.map((r) => ({ ...r, clock: incidentClock(r.awareAt, now, r.status !== 'draft' && r.status !== 'in_review') })),
      nextCursor: rows.length > limit && last ? encodeCursor(last.awareAt, last.id) : null,
    };
  }

  async view(id: string): Promise<IncidentView> {
    const incident = await this.deps.lifecycle.get(id);
    const phases = await readPhases(this.deps.db, id);
    return {
      incident,
      clock: incidentClock(incident.awareAt, this.deps.clock.now(), phases[0]?.status === 'approved'),
      phases,
      approvalsNeeded: APPROVALS_NEEDED,
      notifierConfigured: this.deps.lifecycle.notifierConfigured,
    };
  }

  async open(actor: Actor, input: { title: string; campaignIds: string[]; awareAt?: number | undefined; owner?: string | undefined; notes?: string | undefined }): Promise<IncidentView> {
    const incident = await this.deps.lifecycle.open(
      { title: input.title, campaignIds: input.campaignIds, ...(input.awareAt !== undefined ? { awareAt: input.awareAt } : {}), ...(input.owner !== undefined ? { owner: input.owner } : {}), ...(input.notes !== undefined ? { notes: input.notes } : {}) },
      by(actor),
    );
    return this.view(incident.id);
  }

  async update(actor: Actor, id: string, changes: IncidentChanges): Promise<IncidentView> {
    await this.deps.lifecycle.update(id, changes, by(actor));
    return this.view(id);
  }

  async linkCampaigns(actor: Actor, id: string, campaignIds: string[]): Promise<IncidentView> {
    await this.deps.lifecycle.linkCampaigns(id, campaignIds, by(actor));
    return this.view(id);
  }

  async editPhase(actor: Actor, id: string, number: number, fields: Partial<PhaseFields>): Promise<IncidentView> {
    await this.deps.lifecycle.editPhase(id, number, fields, by(actor));
    return this.view(id);
  }

  async submit(actor: Actor, id: string): Promise<IncidentView> {
    await this.deps.lifecycle.submit(id, by(actor));
    return this.view(id);
  }

  async sendBack(actor: Actor, id: string, reason: string): Promise<IncidentView> {
    await this.deps.lifecycle.sendBack(id, reason, by(actor));
    return this.view(id);
  }

  async approve(actor: Actor, id: string): Promise<IncidentView> {
    await this.deps.lifecycle.approve(id, by(actor));
    return this.view(id);
  }

  async supplement(actor: Actor, id: string, fields: Partial<PhaseFields>): Promise<IncidentView> {
    await this.deps.lifecycle.supplement(id, fields, by(actor));
    return this.view(id);
  }

  async notify(actor: Actor, id: string): Promise<IncidentView> {
    await this.deps.lifecycle.notify(id, by(actor));
    return this.view(id);
  }

  async close(actor: Actor, id: string, reason: string): Promise<IncidentView> {
    await this.deps.lifecycle.close(id, reason, by(actor));
    return this.view(id);
  }

  report(id: string): Promise<ReportDocument> {
    return this.deps.reports.document(id);
  }

  signed(id: string): Promise<SignedReport> {
    return this.deps.reports.signed(id);
  }

  html(id: string): Promise<string> {
    return this.deps.reports.html(id);
  }

  csv(id: string): Promise<string> {
    return this.deps.reports.csv(id);
  }

  evidence(id: string): Promise<EvidenceBundle> {
    return this.deps.reports.evidence(id);
  }

  signingKey(): PublishedKey {
    return this.deps.reports.publishedKey;
  }
}

function by(actor: Actor): IncidentActor {
  return { actor: { id: actor.id, name: actor.name, role: actor.role, via: actor.via }, from: actor.from, tool: actor.tool };
}

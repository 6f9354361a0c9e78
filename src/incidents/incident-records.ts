import type { Kysely, Selectable } from 'kysely';
import type { Database, IncidentPhasesTable, IncidentsTable } from '../db/schema.js';
import type { Tx } from '../db/transaction.js';
import { parseJson } from './common.js';
import type { ReportFacts } from './incident-report.js';

/**
 * Incidents as stored: campaigns gathered for disclosure, the moment findguard's operators
 * became aware (the GDPR Art. 33(1) 72-hour clock), and the regulator's report in phases (a
 * first report, then supplements, Art. 33(4)). The lifecycle that changes them is
 * incident-lifecycle.ts; this module is what other modules (alerts, notices) read.
 */

export type IncidentStatus = IncidentsTable['status'];
export type PhaseStatus = IncidentPhasesTable['status'];

export const INCIDENT_STATUSES: readonly IncidentStatus[] = ['draft', 'in_review', 'approved', 'notified', 'closed'];

/**
 * The only legal moves. in_review -> draft is a reviewer sending the report back; approved ->
 * notified runs the IncidentNotifier (Art. 34 notices); closed is final.
 */
export const INCIDENT_TRANSITIONS: Readonly<Record<IncidentStatus, readonly IncidentStatus[]>> = {
  draft: ['in_review'],
  in_review: ['draft', 'approved'],
  approved: ['notified'],
  notified: ['closed'],
  closed: [],
};

export function isLegalTransition(from: IncidentStatus, to: IncidentStatus): boolean {
  return INCIDENT_TRANSITIONS[from].includes(to);
}

/** GDPR Art. 33(1): notify the supervisory authority within 72 hours of becoming aware. */
export const NOTIFICATION_DEADLINE_MS = 72 * 3_600_000;

export interface IncidentClock {
  awareAt: string;
  deadline: string;
  /** Negative once the deadline has passed. */
  remainingMs: number;
  /** The regulator's report (first phase) was approved: the clock no longer runs. */
  stopped: boolean;
  overdue: boolean;
}

/** The 72-hour clock as of `now` (from the injected clock, never Date.now()). */
export function incidentClock(awareAt: number, now: number, stopped: boolean): IncidentClock {
  const deadline = awareAt + NOTIFICATION_DEADLINE_MS;
  return {
    awareAt: new Date(awareAt).toISOString(),
    deadline: new Date(deadline).toISOString(),
    remainingMs: deadline - now,
    stopped,
    overdue: !stopped && now > deadline,
  };
}

/** The fields of a report phase a person must judge (the rest is generated from the records). */
export interface PhaseFields {
  /** Art. 33(3)(a): the nature of the breach. */
  nature: string;
  /** Art. 33(3)(a): categories of data subjects and of records, in words (the numbers are generated). */
  categories: string;
  /** Art. 33(3)(c): likely consequences. */
  consequences: string;
  /** Art. 33(3)(d): measures taken beyond the recorded decisions, in words. */
  measuresTakenNote: string;
  /** Art. 33(3)(d): measures planned. */
  measuresPlanned: string;
  /** Art. 34: whether the people must be told, and why (null: not judged yet). */
  art34: { applies: boolean | null; reason: string };
  /** For a supplement: what it adds or corrects (Art. 33(4)). */
  supplement: string;
}

export const EMPTY_FIELDS: PhaseFields = {
  nature: '',
  categories: '',
  consequences: '',
  measuresTakenNote: '',
  measuresPlanned: '',
  art34: { applies: null, reason: '' },
  supplement: '',
};

export interface IncidentRecord {
  id: string;
  title: string;
  status: IncidentStatus;
  awareAt: number;
  createdAt: number;
  updatedAt: number;
  owner: string | null;
  openedBy: string;
  source: 'operator' | 'engine';
  notes: string;
  campaignIds: string[];
  notifiedAt: number | null;
  notices: number | null;
  closedAt: number | null;
}

export interface PhaseRecord {
  number: number;
  kind: 'initial' | 'supplement';
  status: PhaseStatus;
  fields: PhaseFields;
  /** Ids of the operators who wrote or submitted it: none of them alone can approve it. */
  authors: string[];
  createdAt: number;
  createdBy: string;
  updatedAt: number;
  submittedBy: string | null;
  submittedAt: number | null;
  approvedAt: number | null;
  approvals: Array<{ operatorId: string; operatorName: string; at: number }>;
  /** The generated facts as approved; null before approval. */
  facts: ReportFacts | null;
}

/**
 * Called by the approved -> notified transition: sends the Art. 34 notice to every account the
 * incident's campaigns exposed (implemented by src/incidents/notices*.ts). It must be idempotent
 * per (incident, account): a failure leaves the incident approved and the transition is retried,
 * calling it again. Without one configured the transition is refused (409 notifier_unavailable).
 */
export interface IncidentNotifier {
  notifyIncident(incidentId: string, campaignIds: string[], at: Date, opts?: NotifyOptions): Promise<{ notices: number; created: number }>;
}

export interface NotifyOptions {
  /** Runs in the transaction that adds notices, with how many it adds (late-notices.ts counts them there). */
  onAdded?: (tx: Tx, added: number) => Promise<void>;
}

/**
 * Incidents whose 72-hour clock runs: not yet notified or closed (the alerts read this for their
 * 48 h and 66 h alerts). Oldest awareness first.
 */
export async function openIncidentClocks(db: Kysely<Database>): Promise<Array<{ incidentId: string; title: string; awareAt: Date; status: string }>> {
  const rows = await db
    .selectFrom('incidents')
    .select(['id', 'title', 'aware_at', 'status'])
    .where('status', 'in', ['draft', 'in_review', 'approved'])
    .orderBy('aware_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ incidentId: r.id, title: r.title, awareAt: new Date(Number(r.aware_at)), status: r.status }));
}

/** The incidents that name a campaign (a campaign's page links them). */
export async function incidentsForCampaign(db: Kysely<Database>, campaignId: string): Promise<string[]> {
  const rows = await db.selectFrom('incident_campaigns').select('incident_id').where('campaign_id', '=', campaignId).orderBy('incident_id').execute();
  return rows.map((r) => r.incident_id);
}

/** One incident with its campaign ids, or undefined. */
export async function readIncident(db: Kysely<Database>, id: string): Promise<IncidentRecord | undefined> {
  const row = await db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return undefined;
  const campaigns = await db.selectFrom('incident_campaigns').select('campaign_id').where('incident_id', '=', id).orderBy('campaign_id').execute();
  return toIncident(row, campaigns.map((c) => c.campaign_id));
}

export interface IncidentQuery {
  status?: IncidentStatus;
  limit?: number;
  /** Keyset paging: only incidents after this one in the list's order (awareness, then id, newest first). */
  after?: { at: number; id: string };
}

/** Newest awareness first, with their campaign ids. */
export async function listIncidents(db: Kysely<Database>, q: IncidentQuery = {}): Promise<IncidentRecord[]> {
  let query = db.selectFrom('incidents').selectAll();
  if (q.status) query = query.where('status', '=', q.status);
  const after = q.after;
  if (after) query = query.where((eb) => eb.or([eb('aware_at', '<', after.at), eb.and([eb('aware_at', '=', after.at), eb('id', '<', after.id)])]));
  const rows = await query.orderBy('aware_at', 'desc').orderBy('id', 'desc').limit(Math.max(1, Math.min(q.limit ?? 100, 1000))).execute();
  if (rows.length === 0) return [];
  const links = await db.selectFrom('incident_campaigns').select(['incident_id', 'campaign_id']).where('incident_id', 'in', rows.map((r) => r.id)).orderBy('campaign_id').execute();
  const byIncident = new Map<string, string[]>();
  for (const l of links) byIncident.set(l.incident_id, [...(byIncident.get(l.incident_id) ?? []), l.campaign_id]);
  return rows.map((r) => toIncident(r, byIncident.get(r.id) ?? []));
}

/** Every phase of an incident with its approvals, first report first. */
export async function readPhases(db: Kysely<Database>, incidentId: string): Promise<PhaseRecord[]> {
  const rows = await db.selectFrom('incident_phases').selectAll().where('incident_id', '=', incidentId).orderBy('number').execute();
  const approvals = await db.selectFrom('incident_approvals').selectAll().where('incident_id', '=', incidentId).orderBy('at').orderBy('operator_id').execute();
  return rows.map((r) => toPhase(r, approvals.filter((a) => Number(a.phase) === Number(r.number)).map((a) => ({ operatorId: a.operator_id, operatorName: a.operator_name, at: Number(a.at) }))));
}

function toIncident(r: Selectable<IncidentsTable>, campaignIds: string[]): IncidentRecord {
  return {
    id: r.id,
    title: r.title,
    status: r.status,
    awareAt: Number(r.aware_at),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    owner: r.owner,
    openedBy: r.opened_by,
    source: r.source,
    notes: r.notes,
    campaignIds,
    notifiedAt: r.notified_at === null ? null : Number(r.notified_at),
    notices: r.notices === null ? null : Number(r.notices),
    closedAt: r.closed_at === null ? null : Number(r.closed_at),
  };
}

function toPhase(r: Selectable<IncidentPhasesTable>, approvals: PhaseRecord['approvals']): PhaseRecord {
  const stored = parseJson(r.fields);
  const fields = { ...EMPTY_FIELDS, ...(stored && typeof stored === 'object' && !Array.isArray(stored) ? (stored as Partial<PhaseFields>) : {}) };
  const authors = parseJson(r.authors);
  return {
    number: Number(r.number),
    kind: r.kind,
    status: r.status,
    fields,
    authors: Array.isArray(authors) ? authors.filter((a): a is string => typeof a === 'string') : [],
    createdAt: Number(r.created_at),
    createdBy: r.created_by,
    updatedAt: Number(r.updated_at),
    submittedBy: r.submitted_by,
    submittedAt: r.submitted_at === null ? null : Number(r.submitted_at),
    approvedAt: r.approved_at === null ? null : Number(r.approved_at),
    approvals,
    facts: r.facts === null ? null : (parseJson(r.facts) as unknown as ReportFacts | null),
  };
}

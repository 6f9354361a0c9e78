import type { Kysely, Selectable } from 'kysely';
import type { Database, IncidentsTable, WebhookOutboxTable } from '../db/schema.js';
import type { Random } from '../util/random.js';
import { iso, newId, parseJson } from './common.js';
import type { ExposureNotice } from './notices-content.js';
import type { CampaignSummary } from './summary.js';

/**
 * The webhook outbox (DESIGN §5). A row is written in the same transaction as the change it
 * announces, so an event is sent if and only if its change committed; the deliverer
 * (webhooks.ts) sends it later, at least once. The row keeps the exact body, so every retry
 * carries the same bytes and the same idempotency id.
 */

export const WEBHOOK_EVENTS = ['account.suspended', 'account.reinstated', 'campaign.detected', 'exposure.recorded', 'exposure.notice', 'incident.updated'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** Exposures per `exposure.recorded` delivery: large campaigns stay within sane request sizes. */
export const EXPOSURES_PER_WEBHOOK = 1000;

export interface ExposureRecord {
  attackerAccountId: string;
  revealedAccountId: string;
  /** ISO time the attacker account first got this account in an answer (in this exposure's period: incidents/exposure-periods.ts). */
  at: string;
}

/** The change, as the audit action names it without `incident.`. */
export type IncidentChange = 'open' | 'update' | 'link_campaigns' | 'phase_edit' | 'submit' | 'send_back' | 'approve' | 'supplement' | 'notify' | 'notify_late' | 'close';

/** An incident's state after one change (incident-updates.ts): ids, states and counts, no free text, no operator name. */
export interface IncidentUpdatedData {
  incidentId: string;
  change: IncidentChange;
  status: IncidentsTable['status'];
  /** Before this change; null when it opened the incident. */
  previousStatus: IncidentsTable['status'] | null;
  /** Who made the change. */
  by: 'operator' | 'engine';
  /** Who opened the incident. */
  source: 'operator' | 'engine';
  campaignIds: string[];
  awareAt: string;
  /** The latest report phase: 1 is the first report, then supplements. */
  phase: { number: number; kind: 'initial' | 'supplement'; status: 'draft' | 'in_review' | 'approved'; approvals: number } | null;
  phases: number;
  /** Exposed accounts told: the notices this incident sent, and those another incident's notice had already told of the same exposures (covered); null until notified. */
  notices: number | null;
  at: string;
}

export interface WebhookData {
  'account.suspended': {
    accountId: string;
    actionId: string;
    at: string;
    actor: string;
    reason: string;
    clusterId: string | null;
    campaignId: string | null;
  };
  'account.reinstated': {
    accountId: string;
    actionId: string;
    at: string;
    actor: string;
    reason: string;
    /** The enforcement actions this one lifted. */
    reverses: string[];
  };
  'campaign.detected': {
    campaignId: string;
    clusterId: string;
    detectedAt: string;
    firstSeen: string;
    lastSeen: string;
    score: number;
    accounts: string[];
    summary: CampaignSummary;
  };
  'exposure.recorded': {
    campaignId: string;
    exposures: ExposureRecord[];
  };
  /** One exposed account's notice (notices.ts), for the app to show in-app or mail: findguard holds no address. */
  'exposure.notice': ExposureNotice;
  /** One change to an incident (its lifecycle, incident-lifecycle.ts), in the change's transaction. */
  'incident.updated': IncidentUpdatedData;
}

/** The body every delivery carries. */
export interface WebhookEnvelope<T extends WebhookEventType = WebhookEventType> {
  /** The idempotency id: the same on every retry of this event, also in Findguard-Event-Id. */
  id: string;
  type: T;
  createdAt: string;
  data: WebhookData[T];
}

export type OutboxRow = Selectable<WebhookOutboxTable>;

/** Adds an event to the outbox; pass the transaction of the change it announces. Returns its id. */
export async function enqueueWebhook<T extends WebhookEventType>(
  db: Kysely<Database>,
  type: T,
  data: WebhookData[T],
  now: number,
  random: Random,
): Promise<string> {
  // Time-ordered: one transaction's events are delivered in the order it wrote them (campaign.detected
  // before its exposures). Best effort only: retries reorder, so receivers must not depend on it.
  const id = newId('evt', now, random);
  const envelope: WebhookEnvelope<T> = { id, type, createdAt: iso(now), data };
  await db
    .insertInto('webhook_outbox')
    .values({
      id,
      event_type: type,
      payload: JSON.stringify(envelope),
      created_at: now,
      next_attempt_at: now,
      attempts: 0,
      delivered_at: null,
      last_error: null,
    })
    .execute();
  return id;
}

/**
 * Replaces the data of an event not yet committed: a caller that wants its event ahead of
 * others it is about to write enqueues a placeholder first and fills it in here.
 */
export async function rewriteWebhook<T extends WebhookEventType>(db: Kysely<Database>, id: string, type: T, data: WebhookData[T], createdAt: number): Promise<void> {
  const envelope: WebhookEnvelope<T> = { id, type, createdAt: iso(createdAt), data };
  await db.updateTable('webhook_outbox').set({ payload: JSON.stringify(envelope) }).where('id', '=', id).execute();
}

/**
 * The payload an exposure.notice row keeps once its notice expired (notices-delivery.ts): the row
 * stays as the record of its delivery, but nothing of the notice, not even its id.
 */
export const EXPIRED_NOTICE_PAYLOAD = '{"type":"exposure.notice","expired":true}';

/**
 * Whether an outbox row is an exposure notice past its lifetime: emptied already, or expired and
 * not yet emptied by the hourly purge. Such a row is never sent again.
 */
export function isExpiredNoticeEvent(row: { event_type: string; payload: string }, now: number): boolean {
  if (row.event_type !== 'exposure.notice') return false;
  if (row.payload === EXPIRED_NOTICE_PAYLOAD) return true;
  const data = (parseJson(row.payload) as { data?: { expiresAt?: unknown } } | null)?.data;
  const expiresAt = typeof data?.expiresAt === 'string' ? Date.parse(data.expiresAt) : Number.NaN;
  // A payload that cannot say until when it may be sent is not sent.
  return !Number.isFinite(expiresAt) || expiresAt <= now;
}

export type OutboxState = 'pending' | 'delivered' | 'failed';

/** Rows for inspection (tests, operators), newest first. */
export async function listOutbox(db: Kysely<Database>, opts: { state?: OutboxState; type?: WebhookEventType; limit?: number } = {}): Promise<OutboxRow[]> {
  let q = db.selectFrom('webhook_outbox').selectAll();
  if (opts.type) q = q.where('event_type', '=', opts.type);
  if (opts.state === 'delivered') q = q.where('delivered_at', 'is not', null);
  if (opts.state === 'pending') q = q.where('next_attempt_at', 'is not', null);
  if (opts.state === 'failed') q = q.where('delivered_at', 'is', null).where('next_attempt_at', 'is', null);
  return q.orderBy('id', 'desc').limit(opts.limit ?? 100).execute();
}

/** Collects new exposures into exposure.recorded webhooks of EXPOSURES_PER_WEBHOOK each. */
export class ExposureBatcher {
  private pending: ExposureRecord[] = [];
  total = 0;

  constructor(
    private readonly trx: Kysely<Database>,
    private readonly campaignId: string,
    private readonly now: number,
    private readonly random: Random,
  ) {}

  async add(e: ExposureRecord): Promise<void> {
    this.pending.push(e);
    this.total++;
    if (this.pending.length >= EXPOSURES_PER_WEBHOOK) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const exposures = this.pending;
    this.pending = [];
    await enqueueWebhook(this.trx, 'exposure.recorded', { campaignId: this.campaignId, exposures }, this.now, this.random);
  }
}

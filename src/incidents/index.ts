import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config, Secrets } from '../config/config.js';
import type { Database } from '../db/schema.js';
import type { Tx } from '../db/transaction.js';
import type { DirectoryService } from '../directory/service.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { Campaigns } from './campaigns.js';
import { DecisionCache, databaseSource, type DecisionCacheOptions } from './decision-cache.js';
import { DEFAULT_DECISIONS_CHANNEL, inProcessNotices, RedisDecisionNotices } from './decision-notices.js';
import { Enforcer } from './enforcer.js';
import { ExposureNotices, type NoticeDeps } from './notices.js';
import { IncidentReports } from './incident-export.js';
import { IncidentLifecycle } from './incident-lifecycle.js';
import { ReportSigner } from './report-signing.js';
import { WebhookDeliverer, type DelivererOptions } from './webhooks.js';

export { auditFor, listAudit, recordAudit, verifyAudit, type AuditActor, type AuditEntry, type AuditQuery, type AuditTool, type AuditVerdict, type NewAuditEntry } from './audit.js';
export { ENGINE_ACTOR, type JsonValue } from './common.js';
export { DecisionCache, type CallerSignup, type CallOrigin } from './decision-cache.js';
export { decisionsFor, SIGNUP_HOLD_MS, type SignupHold, type StandingDecision } from './decisions.js';
export { Campaigns, toListItem, type AccountCampaign, type CampaignListItem, type OpenCampaignInput, type OpenCampaignResult } from './campaigns.js';
export { Enforcer, type ActionOptions, type ActiveRestrictions, type EnforcementAction, type ReinstateResult, type RestrictResult, type SuspendResult } from './enforcer.js';
export { EXPOSURES_PER_WEBHOOK, listOutbox, WEBHOOK_EVENTS, type WebhookData, type WebhookEnvelope, type WebhookEventType } from './outbox.js';
export type { CampaignReport } from './report.js';
export { EMPTY_FIELDS, INCIDENT_STATUSES, INCIDENT_TRANSITIONS, NOTIFICATION_DEADLINE_MS, incidentClock, incidentsForCampaign, isLegalTransition, listIncidents, openIncidentClocks, readIncident, readPhases, type IncidentClock, type IncidentNotifier, type IncidentQuery, type IncidentRecord, type IncidentStatus, type PhaseFields, type PhaseRecord, type PhaseStatus } from './incident-records.js';
export { APPROVALS_NEEDED, DEFAULT_NATURE, ENGINE_INCIDENT_ACTOR, IncidentLifecycle, type IncidentActor, type IncidentChanges, type OpenIncidentInput } from './incident-lifecycle.js';
export { IncidentReports } from './incident-export.js';
export { DATA_REVEALED, evidenceHash, type EvidenceBundle, type ExposureRow, type ReportFacts } from './incident-report.js';
export type { ReportDocument, ReportPhase } from './report-document.js';
export { REPORT_HTML_CSP } from './report-html.js';
export { publishedKey, ReportSigner, verifySignedReport, type PublishedKey, type SignedReport } from './report-signing.js';
export { signWebhook, verifyWebhookSignature, SIGNATURE_HEADER, EVENT_ID_HEADER } from './signature.js';
export type { CampaignSummary } from './summary.js';
export { backoffDelay, WebhookDeliverer, type DeliveryRound } from './webhooks.js';
export { ExposureNotices, OWN_NOTICES_MAX, type NoticeDeliveryItem, type NoticeDeliveryPage, type NoticeStatus } from './notices.js';
export type { DiscoverableBy, ExposureNotice } from './notices-content.js';

/** Incident response as the context holds it. */
export interface Incidents {
  enforcer: Enforcer;
  campaigns: Campaigns;
  /** Art. 34 notices to exposed accounts: the IncidentNotifier, what /v1/me/exposures reads, delivery for operators. */
  notices: ExposureNotices;
  /** Incidents and their regulator's report: every change (incident-lifecycle.ts); approved -> notified runs `notices`. */
  lifecycle: IncidentLifecycle;
  /** The report's exports: signed JSON, printable HTML, CSV of exposures, the evidence bundle. */
  reports: IncidentReports;
  /**
   * The standing decisions as this process knows them: what the discovery path enforces. Serving
   * processes start() it; elsewhere it only announces this process's changes to the others.
   */
  decisions: DecisionCache;
  /** Set when FINDGUARD_WEBHOOK_URL is and this process delivers; without it events wait in the outbox. */
  deliverer?: WebhookDeliverer;
  /** Starts delivering webhooks, where this process delivers; building starts nothing. */
  start(): void;
  close(): Promise<void>;
}

export interface IncidentOptions {
  /** Run a deliverer in this process when a webhook URL is configured; default true. CLI commands pass false. */
  deliver?: boolean;
  /** Tuning of the deliverer (tests shorten the delays). */
  delivery?: Partial<Pick<DelivererOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'timeoutMs' | 'batchSize' | 'pollMs'>>;
  /** Prefix of the decisions channel in Redis (tests give each suite its own): `<prefix>decisions`. */
  redisPrefix?: string;
  /** Lifetime of exposure notices and whether the app offers "my contacts" (notices.ts). */
  notices?: Pick<NoticeDeps, 'lifetimeMs' | 'offersMyContacts'>;
  /** Tuning of the decision cache (tests shorten the bounds). */
  decisions?: Partial<Pick<DecisionCacheOptions, 'pollMs' | 'maxAgeMs' | 'overlapMs' | 'monotonic'>>;
  /** Exposed accounts at which the engine opens an incident for a campaign (policy incidents.openAtExposedAccounts). */
  openIncidentAtExposedAccounts?: number;
  /** Told after a campaign's opening or new exposures commit (the alerts evaluate at once, src/alerts). */
  onCampaignRecorded?: () => void;
}

export function createIncidents(
  config: Pick<Config, 'webhook' | 'redisUrl' | 'dpoContact'>,
  secrets: Pick<Secrets, 'webhookSecret' | 'reportSigningSeed'>,
  deps: { db: Kysely<Database>; directory: DirectoryService; clock: Clock; random: Random; logger: Logger },
  opts: IncidentOptions = {},
): Incidents {
  const deliverer =
    config.webhook && secrets.webhookSecret && opts.deliver !== false
      ? new WebhookDeliverer({ ...opts.delivery, db: deps.db, url: config.webhook.url, secret: secrets.webhookSecret, clock: deps.clock, random: deps.random, logger: deps.logger.child({ component: 'webhooks' }) })
      : undefined;
  const onEnqueued = deliverer ? () => deliverer.poke() : undefined;
  const channel = opts.redisPrefix ? `${opts.redisPrefix}decisions` : DEFAULT_DECISIONS_CHANNEL;
  const logger = deps.logger.child({ component: 'decisions' });
  const notices = config.redisUrl ? new RedisDecisionNotices(config.redisUrl, channel, logger) : inProcessNotices;
  const decisions = new DecisionCache({ ...opts.decisions, source: databaseSource(deps.db), clock: deps.clock, logger, notices });
  // After-commit notices (the deliverer's poke, cache invalidation) that fail are logged here.
  const log = deps.logger.child({ component: 'incidents' });
  const enforcer = new Enforcer({ db: deps.db, directory: deps.directory, clock: deps.clock, random: deps.random, decisions, log, ...(onEnqueued ? { onEnqueued } : {}) });
  const exposureNotices = new ExposureNotices({ ...opts.notices, db: deps.db, clock: deps.clock, random: deps.random, log, ...(onEnqueued ? { onEnqueued } : {}) });
  const lifecycle = new IncidentLifecycle({ db: deps.db, clock: deps.clock, random: deps.random, notifier: exposureNotices, log, ...(onEnqueued ? { onEnqueued } : {}), ...(opts.openIncidentAtExposedAccounts !== undefined ? { openAtExposedAccounts: opts.openIncidentAtExposedAccounts } : {}) });
  const onRecorded = (tx: Tx, id: string, exposed: number) => {
    const told = opts.onCampaignRecorded;
    if (told) tx.onCommit(told);
    return lifecycle.openForCampaign(id, exposed, tx);
  };
  const onExtended = (id: string) => lifecycle.notifyLate(id);
  const campaigns = new Campaigns({ db: deps.db, clock: deps.clock, random: deps.random, log, onRecorded, onExtended, ...(onEnqueued ? { onEnqueued } : {}) });
  const reports = new IncidentReports({ db: deps.db, clock: deps.clock, signer: new ReportSigner(secrets.reportSigningSeed), dpoContact: config.dpoContact });
  return {
    enforcer,
    campaigns,
    notices: exposureNotices,
    lifecycle,
    reports,
    decisions,
    ...(deliverer ? { deliverer } : {}),
    start: () => deliverer?.start(),
    close: async () => {
      await deliverer?.stop();
      await decisions.close();
    },
  };
}

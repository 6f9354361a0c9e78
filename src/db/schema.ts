/**
 * Table types. Timestamps are epoch milliseconds (bigint in PostgreSQL, parsed to number),
 * booleans are 0/1 integers: the one representation both dialects bind and return alike.
 */
export interface AccountsTable {
  id: string;
  handle: string;
  created_at: number;
  /** Status the app mirrors to us. */
  app_status: 'active' | 'suspended';
  /** findguard's own enforcement, kept apart: lifted only by findguard's operators. */
  fg_status: 'active' | 'suspended';
  /** The phone country the app sent; wins over the derived one. */
  phone_region: string | null;
  /** The region of the account's own verified phone (see directory/phone-region.ts), maintained by directory writes. */
  derived_phone_region: string | null;
  signup_ip: string | null;
  signup_device: string | null;
  signup_user_agent: string | null;
  /** The app attested the sign-up's device: 1, 0 (it said not), null (it said nothing). Migration 20270109000000. */
  signup_attested: number | null;
  mirrored_at: number;
  updated_at: number;
}

/** An erased account's last incarnation, kept a day (directory/incarnations.ts). */
export interface ErasedIncarnationsTable {
  id: string;
  mirrored_at: number;
  erased_at: number;
}

export interface ContactPointsTable {
  id: string;
  account_id: string;
  kind: 'phone' | 'email';
  key_version: number;
  /** HMAC-SHA-256(hash key, kind || value): the only trace of the value we keep. */
  hash: Buffer;
  /** Bit set of purposes, see directory/purposes.ts. */
  purposes: number;
  verified: number;
  /**
   * Maintained by directory writes: 0 unless purpose discovery, verified and the account active;
   * then 1 (everyone) or 2 (my contacts: found only through contact_reach).
   */
  discoverable: number;
  /** The audience while the discovery purpose is set (directory/discoverability.ts). */
  discoverable_by: 'everyone' | 'contacts';
  /** A phone number's region (libphonenumber's), never the number; null for emails and older rows. */
  region: string | null;
  created_at: number;
  updated_at: number;
}

/** Keyed hashes of the numbers the owner's latest sync sent, kept only while the owner is in contacts mode. */
export interface ContactBooksTable {
  account_id: string;
  hash: Buffer;
}

/** Derived: a contacts-mode discoverable point × its owner's book entries (directory/discoverability.ts). */
export interface ContactReachTable {
  point_hash: Buffer;
  book_hash: Buffer;
  created_at: number;
  point_id: string;
  account_id: string;
}

export interface MetaTable {
  key: string;
  value: string;
}

// --- lookup events (abuse engine input; src/abuse/pipeline.ts) ---
/** One discovery call, as the abuse engine sees it: never a contact value (see src/abuse/events.ts). */
export interface LookupEventsTable {
  /** The event's random id: redelivered events are no-ops. */
  id: string;
  at: number;
  account_id: string;
  device_id: string | null;
  ip: string;
  subnet: string;
  subnet48: string | null;
  asn: number | null;
  country: string | null;
  network: string;
  tier: string | null;
  operation: string;
  outcome: string;
  scope: string | null;
  kind: string;
  numbers: number;
  new_numbers: number;
  matched: number;
  /** JSON array of account ids. */
  revealed: string;
  /** JSON object: number block -> count. */
  blocks: string;
  account_created_at: number;
  phone_region: string | null;
}
// --- end lookup events ---

// --- incidents (src/incidents) ---
/** JSON text columns hold what src/incidents/ writes; they are parsed there, never here. */
export interface EnforcementActionsTable {
  id: string;
  at: number;
  action: 'throttle' | 'challenge' | 'suspend' | 'reinstate';
  account_id: string;
  cluster_id: string | null;
  campaign_id: string | null;
  /** 'engine' or an operator's name. */
  actor: string;
  reason: string;
  /** JSON. */
  evidence: string;
  /** Throttles and challenges end by themselves; suspensions need a reinstatement. */
  expires_at: number | null;
  /** Id of the action that lifted this one. */
  reversed_by: string | null;
}

export interface CampaignsTable {
  id: string;
  cluster_id: string;
  detected_at: number;
  first_seen: number;
  last_seen: number;
  status: 'open' | 'closed';
  score: number;
  /** JSON: see CampaignSummary in src/incidents/campaigns.ts. */
  summary: string;
  /** JSON: what the detector gave. */
  evidence: string;
  updated_at: number;
}

export interface CampaignAccountsTable {
  campaign_id: string;
  account_id: string;
}

/** Exact: this discoverable account was revealed to this attacker account, first at `at`. */
export interface ExposuresTable {
  campaign_id: string;
  attacker_account_id: string;
  revealed_account_id: string;
  /** The first answer of a period (incidents/exposure-periods.ts): part of the key, a pair has a row per period. */
  at: number;
}

export interface WebhookOutboxTable {
  /** The idempotency id the receiver deduplicates on (Findguard-Event-Id). */
  id: string;
  event_type: string;
  /** The exact body sent, so every retry carries the same bytes. */
  payload: string;
  created_at: number;
  /** null once delivered or given up. */
  next_attempt_at: number | null;
  attempts: number;
  delivered_at: number | null;
  last_error: string | null;
}

export interface AuditLogTable {
  id: string;
  at: number;
  actor: string;
  action: string;
  target: string;
  /** JSON. */
  details: string;
  // Migration 20261216000000-operators: the hash chain (src/incidents/audit.ts). Rows written
  // before it were chained by the migration; their unknown fields are null.
  /** 1, 2, 3…: a gap is a deleted entry. */
  seq: number;
  actor_id: string | null;
  actor_role: string | null;
  /** How the actor authenticated: password+totp, oidc, token, cli. */
  via: string | null;
  from_address: string | null;
  tool: string | null;
  reason: string | null;
  /** JSON. */
  before: string | null;
  /** JSON. */
  after: string | null;
  batch_id: string | null;
  prev_hash: string;
  hash: string;
}

/** The audit chain's head: one row, locked by every append so nodes cannot fork the chain. */
export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

/** Console operators (src/operators). */
export interface OperatorsTable {
  id: string;
  name: string;
  role: 'viewer' | 'analyst' | 'admin';
  status: 'active' | 'disabled';
  /** scrypt$…; null for an operator who signs in only through OIDC. */
  password_hash: string | null;
  /** base32; null for OIDC operators. */
  totp_secret: string | null;
  /** The last TOTP time step accepted: a code is good once. */
  totp_last_step: number;
  /** `<issuer> <sub>` of an OIDC operator. */
  oidc_subject: string | null;
  /**
   * The other operator who was handed the password (who added this one through the admin API);
   * null: the operator's own, or set on the server's CLI. Migration 20270108000000.
   */
  password_set_by: string | null;
  /** The other operator who was handed the current TOTP secret (added or reset it); null as above. */
  totp_set_by: string | null;
  created_at: number;
  updated_at: number;
}

export interface OperatorSessionsTable {
  id: string;
  operator_id: string;
  /** SHA-256 of the secret the cookie carries: a read of the table cannot sign anyone in. */
  secret_hash: string;
  via: 'password+totp' | 'oidc';
  from_address: string | null;
  created_at: number;
  last_seen_at: number;
  /** The absolute end, whatever the activity. */
  expires_at: number;
  revoked_at: number | null;
}

export interface OperatorTokensTable {
  id: string;
  operator_id: string;
  secret_hash: string;
  label: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /** Migration 20270104000000: the operator id (or `cli`) that made it; null when unknown. */
  created_by: string | null;
}

/** Failed sign-ins per (operator, address) and per address (src/operators/throttle.ts). */
export interface SigninThrottleTable {
  key: string;
  failures: number;
  blocked_until: number;
  last_failure_at: number;
}

/** A standing restriction every serving node enforces (src/incidents/decisions.ts). */
export interface DecisionsTable {
  id: string;
  scope: 'account' | 'device' | 'ip' | 'subnet' | 'asn' | 'country';
  /** The account id, device id, address, subnet, ASN or country the decision is about. */
  subject: string;
  action: 'throttle' | 'challenge' | 'suspend' | 'hold-signups';
  reason: string;
  source: 'engine' | 'operator';
  /** 'engine' or an operator's name. */
  actor: string;
  created_at: number;
  /** null: until lifted. */
  expires_at: number | null;
  lifted_at: number | null;
  lifted_by: string | null;
  lift_reason: string | null;
  cluster_id: string | null;
  campaign_id: string | null;
  /** The enforcement action that caused it. */
  action_id: string | null;
  /** An operator's bulk action it belongs to. */
  batch_id: string | null;
  /**
   * created_at, then lifted_at (the writer's clock, for display). The nodes' incremental reads
   * follow change_seq instead (migration 20261224000000): set by a trigger on every write and
   * read only by decisionsChangedSince, so it is not declared here and no writer can set it.
   */
  changed_at: number;
  /** 1: an operator's trial ("would"): listed, never enforced (migration 20261217000000-console). */
  shadow: number;
}
// --- end incidents ---

/** An incident: campaigns gathered for disclosure (src/incidents/incident-records.ts, migration 20261220000000). */
export interface IncidentsTable {
  id: string;
  title: string;
  status: 'draft' | 'in_review' | 'approved' | 'notified' | 'closed';
  /** When findguard's operators became aware: starts the GDPR Art. 33 72-hour clock. */
  aware_at: number;
  created_at: number;
  updated_at: number;
  /** The operator in charge, by name. */
  owner: string | null;
  /** An operator's name, or 'engine'. */
  opened_by: string;
  source: 'operator' | 'engine';
  notes: string;
  /** The campaign the engine opened it for (unique: one incident per campaign crossing the threshold). */
  engine_campaign_id: string | null;
  notified_at: number | null;
  /** Notices the notifier reported sending. */
  notices: number | null;
  closed_at: number | null;
}

export interface IncidentCampaignsTable {
  incident_id: string;
  campaign_id: string;
  added_at: number;
}

/** One phase of the regulator's report: number 1 is the first report, the rest supplements. */
export interface IncidentPhasesTable {
  incident_id: string;
  number: number;
  kind: 'initial' | 'supplement';
  status: 'draft' | 'in_review' | 'approved';
  /** JSON: the fields a person judges (src/incidents/incident-records.ts PhaseFields). */
  fields: string;
  /** JSON array of the ids of the operators who wrote or submitted it. */
  authors: string;
  created_at: number;
  created_by: string;
  updated_at: number;
  submitted_by: string | null;
  submitted_at: number | null;
  approved_at: number | null;
  /** JSON: the generated facts as approved (src/incidents/incident-report.ts ReportFacts); null until approved. */
  facts: string | null;
}

export interface IncidentApprovalsTable {
  incident_id: string;
  phase: number;
  operator_id: string;
  operator_name: string;
  at: number;
}

/** One exposed account's notice for one incident (src/incidents/notices.ts, migration 20261221000000). */
export interface ExposureNoticesTable {
  id: string;
  incident_id: string;
  /** Erased with the account (foreign key, on delete cascade). */
  account_id: string;
  /** JSON: the notice as the account holder reads it (ExposureNotice in src/incidents/notices-content.ts). */
  content: string;
  /** The exposure.notice webhook's outbox id: its delivery status is read there. */
  event_id: string | null;
  created_at: number;
  expires_at: number;
  /** JSON array: the attacker accounts this notice told of (a covered row: those others had told); null on rows from before. */
  told_attackers: string | null;
}

/** The embedded limits store's saved state (src/limits/memory-store.ts). */
/** A country's address-book hit rate as the abuse engine learned it (abuse/hit-rates.ts); '*' for all. */
export interface HitRatesTable {
  country: string;
  numbers: number;
  matched: number;
  updated_at: number;
}

/** How far a Redis event stream's consumer group was acknowledged (src/abuse/stream-positions.ts). */
export interface EventStreamPositionsTable {
  stream_key: string;
  group_name: string;
  /** A stream entry id ("ms-seq"); "0-0" before any. */
  last_id: string;
  /** Epoch ms when recorded (the worker's clock). */
  recorded_at: number;
}

export interface LimitStateTable {
  key: string;
  /** JSON of the entry's value. */
  state: string;
  expires_at: number;
}

export interface Database {
  accounts: AccountsTable;
  erased_incarnations: ErasedIncarnationsTable;
  limit_state: LimitStateTable;
  hit_rates: HitRatesTable;
  contact_points: ContactPointsTable;
  contact_books: ContactBooksTable;
  contact_reach: ContactReachTable;
  findguard_meta: MetaTable;
  lookup_events: LookupEventsTable;
  event_stream_positions: EventStreamPositionsTable;
  // --- incidents ---
  enforcement_actions: EnforcementActionsTable;
  campaigns: CampaignsTable;
  campaign_accounts: CampaignAccountsTable;
  exposures: ExposuresTable;
  webhook_outbox: WebhookOutboxTable;
  audit_log: AuditLogTable;
  decisions: DecisionsTable;
  incidents: IncidentsTable;
  incident_campaigns: IncidentCampaignsTable;
  incident_phases: IncidentPhasesTable;
  incident_approvals: IncidentApprovalsTable;
  exposure_notices: ExposureNoticesTable;
  // --- end incidents ---
  // --- operators ---
  audit_head: AuditHeadTable;
  operators: OperatorsTable;
  operator_sessions: OperatorSessionsTable;
  operator_tokens: OperatorTokensTable;
  signin_throttle: SigninThrottleTable;
  // --- end operators ---
}


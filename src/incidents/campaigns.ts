import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { CampaignsTable, Database } from '../db/schema.js';
import { isPostgres } from '../db/dialect.js';
import { transaction, type CommitLog, type Tx } from '../db/transaction.js';
import { AppError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { iso, newId, parseJson, type JsonValue } from './common.js';
import { enqueueWebhook, ExposureBatcher, rewriteWebhook, type WebhookData } from './outbox.js';
import { campaignReport, type CampaignReport } from './report.js';
import { reconcile, type PeriodAnswer, type PeriodBounds } from './exposure-periods.js';
import { exposureRule, holderSince, periodBounds } from './exposure-rule.js';
import { EventScan, type CampaignSummary } from './summary.js';

/**
 * Campaigns: a cluster of accounts the abuse engine judged to be one enumeration effort, and
 * exactly what it exposed. The exposures come from the stored lookup events, not from the
 * detector's view, so a disclosure can name every account revealed, to which attacker
 * account, and when it first was.
 */

export interface OpenCampaignInput {
  /** The detector's cluster id: one open campaign per cluster, re-opening it extends it. */
  clusterId: string;
  accountIds: readonly string[];
  score: number;
  evidence: JsonValue;
  now?: number;
}

export interface OpenCampaignResult {
  campaignId: string;
  created: boolean;
  /** Exposures this call recorded (each announced in an exposure.recorded webhook). */
  newExposures: number;
  summary: CampaignSummary;
}

export interface CampaignListItem {
  id: string;
  clusterId: string;
  status: CampaignsTable['status'];
  score: number;
  detectedAt: number;
  firstSeen: number;
  lastSeen: number;
  accounts: number;
  exposedAccounts: number;
  /** Origin countries, most calls first. */
  countries: string[];
}

export interface AccountCampaign {
  campaignId: string;
  /** attacker: one of the campaign's accounts; exposed: revealed to them. */
  role: 'attacker' | 'exposed';
  status: CampaignsTable['status'];
  detectedAt: number;
  /** For an exposed account, when it was first revealed to the campaign. */
  firstExposedAt: number | null;
}

export interface CampaignDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  /** Told after a commit that added webhooks, so a deliverer in this process sends them at once. */
  onEnqueued?: () => void;
  /** Where a failing after-commit notice is reported. */
  log?: CommitLog;
  /**
   * Told, inside the transaction, how many accounts a campaign has exposed so far: the engine's
   * incident threshold (IncidentLifecycle.openForCampaign) opens an incident in the same commit.
   */
  onRecorded?: (tx: Tx, campaignId: string, exposedAccounts: number) => Promise<unknown>;
  /**
   * Told after a campaign that existed was recorded again and committed: an incident naming it may
   * have been notified already, and owes its Art. 34 notices to whoever was exposed since
   * (IncidentLifecycle.notifyLate). Told even when this call added nothing: a process that died
   * between recording and notifying leaves them owed, and the next recording sends them.
   */
  onExtended?: (campaignId: string) => Promise<unknown>;
}

const INSERT_CHUNK = 500;
/**
 * 'fgcp': findguard, campaign recording. A campaign reads its members' events and commits later;
 * a batch stored in between, whose late-answer check (catchUp) ran before that commit, would
 * find no campaign and be missed by its scan. On PostgreSQL the recording holds this lock
 * exclusively for its transaction and the check takes it shared, so a check waits for a
 * recording under way and then sees it. On SQLite the check takes the one write lock (catchUp).
 */
const RECORDING_LOCK = 0x66676370;
const BLOCKS_IN_WEBHOOK = 100;
const MAX_ID = 128;

export class Campaigns {
  private readonly postgres: boolean;
  constructor(private readonly deps: CampaignDeps) {
    this.postgres = isPostgres(deps.db);
  }

  /**
   * Opens a campaign for the cluster, or extends its open one with more accounts and events.
   * One transaction: the campaign, its accounts, every new exposure and their webhooks
   * (`campaign.detected` once, `exposure.recorded` in batches) commit together or not at all.
   * Calling again with the same input records nothing new. Extending a campaign whose incident
   * was notified sends the notices it now owes; a failure there is logged, not thrown, as the
   * caller (the engine's suspension) has its own work to finish: the next recording sends them.
   */
  async openCampaign(input: OpenCampaignInput): Promise<OpenCampaignResult> {
    const result = await this.record(input);
    if (!result.created) {
      await this.extended(result.campaignId).catch((err: unknown) =>
        this.deps.log?.error({ err: err instanceof Error ? err.message : String(err), campaignId: result.campaignId }, 'notices owed to accounts exposed after their incident was notified: not sent yet'),
      );
    }
    return result;
  }

  private async extended(campaignId: string): Promise<void> {
    await this.deps.onExtended?.(campaignId);
  }

  private async record(input: OpenCampaignInput): Promise<OpenCampaignResult> {
    checkInput(input);
    const now = input.now ?? this.deps.clock.now();
    return transaction(this.deps.db, async (trx) => {
      if (this.postgres) await sql`select pg_advisory_xact_lock(${RECORDING_LOCK})`.execute(trx);
      const existing = await trx.selectFrom('campaigns').selectAll().where('cluster_id', '=', input.clusterId).where('status', '=', 'open').executeTakeFirst();
      const campaignId = existing?.id ?? newId('cmp', now, this.deps.random, 6);
      let detectedEvent: string | undefined;
      if (!existing) {
        await trx
          .insertInto('campaigns')
          .values({
            id: campaignId,
            cluster_id: input.clusterId,
            detected_at: now,
            first_seen: now,
            last_seen: now,
            status: 'open',
            score: input.score,
            summary: '{}',
            evidence: JSON.stringify(input.evidence),
            updated_at: now,
          })
          .execute();
        // Written first so it is delivered ahead of the exposures; filled in below.
        detectedEvent = await enqueueWebhook(trx, 'campaign.detected', this.detectedData(campaignId, input.clusterId, now, now, now, input.score, [], new EventScan().summary(0, { pairs: 0, accounts: 0 })), now, this.deps.random);
      }
      const ids = [...new Set(input.accountIds)];
      for (let i = 0; i < ids.length; i += INSERT_CHUNK) {
        const rows = ids.slice(i, i + INSERT_CHUNK).map((account_id) => ({ campaign_id: campaignId, account_id }));
        await trx.insertInto('campaign_accounts').values(rows).onConflict((oc) => oc.columns(['campaign_id', 'account_id']).doNothing()).execute();
      }
      const members = (await trx.selectFrom('campaign_accounts').select('account_id').where('campaign_id', '=', campaignId).orderBy('account_id').execute()).map((r) => r.account_id);
      const memberSet = new Set(members);

      const scan = new EventScan();
      const batch = new ExposureBatcher(trx, campaignId, now, this.deps.random);
      const holders = new Map<string, number | null>();
      for (const attacker of members) {
        const bounds = await periodBounds(trx, attacker, holders);
        const reveals = await scan.account(trx, attacker, memberSet, bounds);
        if (reveals.size > 0) await this.recordExposures(trx, campaignId, attacker, reveals, bounds, batch, existing !== undefined);
      }
      await batch.flush();

      // Counted as everything else counts them (exposure-rule.ts), so the list, the incident threshold and the reports agree.
      const rule = await exposureRule(trx, [campaignId]);
      // A pair may hold a row per period (exposure-periods.ts): pairs are counted, not rows.
      const pairs = trx.selectFrom('exposures').select(['attacker_account_id', 'revealed_account_id']).distinct().where('campaign_id', '=', campaignId).where(rule.where);
      const counts = await trx
        .selectFrom(pairs.as('p'))
        .select((eb) => [eb.fn.countAll<number>().as('pairs'), eb.fn.count<number>('p.revealed_account_id').distinct().as('accounts')])
        .executeTakeFirstOrThrow();
      const summary = scan.summary(members.length, { pairs: Number(counts.pairs), accounts: Number(counts.accounts) });
      const firstSeen = Math.min(scan.firstSeen ?? now, existing ? Number(existing.first_seen) : Infinity);
      const lastSeen = Math.max(scan.lastSeen ?? now, existing ? Number(existing.last_seen) : -Infinity);
      await trx
        .updateTable('campaigns')
        .set({ first_seen: firstSeen, last_seen: lastSeen, score: input.score, summary: JSON.stringify(summary), evidence: JSON.stringify(input.evidence), updated_at: now })
        .where('id', '=', campaignId)
        .execute();
      if (this.deps.onRecorded) await this.deps.onRecorded(trx, campaignId, Number(counts.accounts));
      if (detectedEvent) {
        await rewriteWebhook(trx, detectedEvent, 'campaign.detected', this.detectedData(campaignId, input.clusterId, now, firstSeen, lastSeen, input.score, members, summary), now);
      }
      // The deliverer hears of the new outbox rows once they are committed (never of rolled-back ones).
      const onEnqueued = this.deps.onEnqueued;
      if (onEnqueued && (!existing || batch.total > 0)) trx.onCommit(onEnqueued);
      return { campaignId, created: !existing, newExposures: batch.total, summary };
    }, this.deps.log);
  }

  /**
   * Answers an account got before its campaign's suspension reached every node, whose events were
   * stored after the campaign was recorded (a stream's lag, a node that had not read the decision
   * yet): recording each open campaign these accounts belong to again adds exactly those exposures
   * (and announces them); it records nothing when there are none. Returns the exposures added.
   * A notified incident's notices to the people added are sent before this returns, and a failure
   * throws: the caller's batch is delivered again and this sends what is still owed.
   */
  async catchUp(accountIds: readonly string[]): Promise<number> {
    if (accountIds.length === 0) return 0;
    const members = (db: Kysely<Database>) =>
      db
        .selectFrom('campaign_accounts as ca')
        .innerJoin('campaigns as c', 'c.id', 'ca.campaign_id')
        .select(['c.cluster_id', 'c.score', 'c.evidence', 'ca.account_id'])
        .where('c.status', '=', 'open')
        .where('ca.account_id', 'in', [...new Set(accountIds)])
        .execute();
    // On SQLite the recording holds the directory file's write lock, and every transaction takes it
    // first (db/dialect.ts, WriteFirstSqliteDriver): so this check waits for a recording under way in another
    // process (serve nodes and workers with Redis may share one SQLite folder; a plain read would
    // see the snapshot before its commit) and then reads what it committed.
    const rows = await transaction(this.deps.db, async (trx) => {
      if (this.postgres) await sql`select pg_advisory_xact_lock_shared(${RECORDING_LOCK})`.execute(trx);
      return members(trx);
    });
    const byCluster = new Map<string, { score: number; evidence: string; accounts: string[] }>();
    for (const r of rows) {
      const c = byCluster.get(r.cluster_id) ?? { score: Number(r.score), evidence: r.evidence, accounts: [] };
      c.accounts.push(r.account_id);
      byCluster.set(r.cluster_id, c);
    }
    let added = 0;
    for (const [clusterId, c] of byCluster) {
      const evidence = parseJson(c.evidence) ?? {};
      const recorded = await this.record({ clusterId, accountIds: c.accounts, score: c.score, evidence });
      await this.extended(recorded.campaignId);
      added += recorded.newExposures;
    }
    return added;
  }

  /** The disclosure report (see report.ts). */
  async campaignReport(id: string): Promise<CampaignReport> {
    const report = await campaignReport(this.deps.db, id, this.deps.clock.now());
    if (!report) throw new AppError('not_found', 'no such campaign');
    return report;
  }

  /** Newest first. */
  async list(opts: { limit?: number; status?: CampaignsTable['status'] } = {}): Promise<CampaignListItem[]> {
    let q = this.deps.db.selectFrom('campaigns').selectAll();
    if (opts.status) q = q.where('status', '=', opts.status);
    const rows = await q.orderBy('detected_at', 'desc').orderBy('id', 'desc').limit(opts.limit ?? 50).execute();
    return rows.map(toListItem);
  }

  /** Campaigns the account took part in, or was exposed to; newest first. */
  async forAccount(accountId: string): Promise<AccountCampaign[]> {
    const attacker = await this.deps.db
      .selectFrom('campaign_accounts as ca')
      .innerJoin('campaigns as c', 'c.id', 'ca.campaign_id')
      .select(['c.id', 'c.status', 'c.detected_at'])
      .where('ca.account_id', '=', accountId)
      .execute();
    const rows = await this.deps.db
      .selectFrom('exposures as e')
      .innerJoin('campaigns as c', 'c.id', 'e.campaign_id')
      .select(['c.id', 'c.status', 'c.detected_at', 'e.campaign_id', 'e.attacker_account_id', 'e.revealed_account_id', 'e.at'])
      .where('e.revealed_account_id', '=', accountId)
      .execute();
    // An id the app erased and mirrored again: what was shown before the holder's mirroring was its
    // predecessor's (exposure-rule.ts holderSince), as the notices and the incident report say.
    const holder = await this.deps.db.selectFrom('accounts').select('mirrored_at').where('id', '=', accountId).executeTakeFirst();
    const since = holder ? holderSince(Number(holder.mirrored_at)) : -Infinity;
    // Each campaign's rule on its own, as its report reads it: exposed there is what its report lists.
    const exposed = new Map<string, (typeof rows)[number] & { first: number }>();
    for (const campaignId of new Set(rows.map((r) => r.campaign_id))) {
      const rule = await exposureRule(this.deps.db, [campaignId]);
      for (const r of rows) {
        if (r.campaign_id !== campaignId || Number(r.at) < since || !rule.counts(r)) continue;
        const first = Math.min(exposed.get(campaignId)?.first ?? Infinity, Number(r.at));
        exposed.set(campaignId, { ...r, first });
      }
    }
    const out: AccountCampaign[] = [
      ...attacker.map((r) => ({ campaignId: r.id, role: 'attacker' as const, status: r.status, detectedAt: Number(r.detected_at), firstExposedAt: null })),
      ...[...exposed.values()].map((r) => ({ campaignId: r.id, role: 'exposed' as const, status: r.status, detectedAt: Number(r.detected_at), firstExposedAt: r.first })),
    ];
    return out.sort((a, b) => b.detectedAt - a.detectedAt || (a.campaignId < b.campaignId ? 1 : -1));
  }

  /**
   * Inserts what is new (RETURNING gives exactly the rows this call added, even against a
   * concurrent writer) and moves an exposure's time earlier when a late event shows an earlier
   * reveal. A pair keeps the first answer of each period the rule judges apart (exposure-periods.ts),
   * so a new holder of an id, or a person found again after an old reinstatement, has a row of its
   * own; stored rows are matched to periods by their time (reconcile). Only new rows are announced.
   */
  private async recordExposures(
    trx: Transaction<Database>,
    campaignId: string,
    attacker: string,
    reveals: Map<string, PeriodAnswer[]>,
    bounds: PeriodBounds,
    batch: ExposureBatcher,
    mayExist: boolean,
  ): Promise<void> {
    const stored = new Map<string, number[]>();
    if (mayExist) {
      const rows = await trx.selectFrom('exposures').select(['revealed_account_id', 'at']).where('campaign_id', '=', campaignId).where('attacker_account_id', '=', attacker).execute();
      for (const r of rows) {
        const times = stored.get(r.revealed_account_id) ?? [];
        times.push(Number(r.at));
        stored.set(r.revealed_account_id, times);
      }
    }
    const fresh: Array<{ campaign_id: string; attacker_account_id: string; revealed_account_id: string; at: number }> = [];
    for (const [revealed, found] of reveals) {
      const { insert, move } = reconcile(found, stored.get(revealed) ?? [], (at) => bounds.startOf(revealed, at));
      for (const at of insert) fresh.push({ campaign_id: campaignId, attacker_account_id: attacker, revealed_account_id: revealed, at });
      for (const { from, to } of move) {
        await trx
          .updateTable('exposures')
          .set({ at: to })
          .where('campaign_id', '=', campaignId)
          .where('attacker_account_id', '=', attacker)
          .where('revealed_account_id', '=', revealed)
          .where('at', '=', from)
          .execute();
      }
    }
    for (let i = 0; i < fresh.length; i += INSERT_CHUNK) {
      const inserted = await trx
        .insertInto('exposures')
        .values(fresh.slice(i, i + INSERT_CHUNK))
        .onConflict((oc) => oc.columns(['campaign_id', 'attacker_account_id', 'revealed_account_id', 'at']).doNothing())
        .returning(['revealed_account_id', 'at'])
        .execute();
      for (const r of inserted) await batch.add({ attackerAccountId: attacker, revealedAccountId: r.revealed_account_id, at: iso(Number(r.at)) });
    }
  }

  private detectedData(
    campaignId: string,
    clusterId: string,
    now: number,
    firstSeen: number,
    lastSeen: number,
    score: number,
    accounts: string[],
    summary: CampaignSummary,
  ): WebhookData['campaign.detected'] {
    // A scan probes thousands of blocks: the webhook names the most probed, the report all of them.
    const blocks = { ...summary.blocks, list: summary.blocks.list.slice(0, BLOCKS_IN_WEBHOOK), truncated: summary.blocks.distinct > BLOCKS_IN_WEBHOOK };
    return { campaignId, clusterId, detectedAt: iso(now), firstSeen: iso(firstSeen), lastSeen: iso(lastSeen), score, accounts, summary: { ...summary, blocks } };
  }
}

function checkInput(input: OpenCampaignInput): void {
  if (input.clusterId.length === 0 || input.clusterId.length > MAX_ID) throw new AppError('invalid_request', `clusterId must be 1 to ${MAX_ID} characters`);
  if (input.accountIds.length === 0) throw new AppError('invalid_request', 'a campaign needs at least one account');
  if (input.accountIds.some((id) => id.length === 0 || id.length > MAX_ID)) throw new AppError('invalid_request', `account ids must be 1 to ${MAX_ID} characters`);
  if (!Number.isFinite(input.score)) throw new AppError('invalid_request', 'score must be a finite number');
}

/** The notices read the rule from here. */
export { exposureCounts } from './exposure-rule.js';

/** A campaign row as lists show it (the console's list adds its own columns to this). */
export function toListItem(r: Selectable<CampaignsTable>): CampaignListItem {
  const s = parseJson(r.summary) as Partial<CampaignSummary> | null;
  return {
    id: r.id,
    clusterId: r.cluster_id,
    status: r.status,
    score: Number(r.score),
    detectedAt: Number(r.detected_at),
    firstSeen: Number(r.first_seen),
    lastSeen: Number(r.last_seen),
    accounts: s?.accounts ?? 0,
    exposedAccounts: s?.exposures?.accounts ?? 0,
    countries: (s?.countries ?? []).flatMap((c) => (c.country ? [c.country] : [])),
  };
}

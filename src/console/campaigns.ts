import { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { CampaignsTable, Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import { parseJson, type JsonValue } from '../incidents/common.js';
import { exposureRule } from '../incidents/exposure-rule.js';
import { toListItem, type CampaignListItem, type CampaignSummary } from '../incidents/index.js';
import { decodeCursor, encodeCursor } from './cursor.js';

/**
 * Campaigns as the console lists and shows them. A campaign's page reads what the campaign row
 * already holds (its summary, computed from the events when it was opened or extended) plus a few
 * grouped queries, so a 2,000-account campaign answers without walking its events again.
 */

/** The incidents module's list item, with the pairs behind its exposures; countries: at most 5. */
export interface CampaignItem extends CampaignListItem {
  exposurePairs: number;
}

export interface TimelineEntry {
  at: number;
  /** What happened: the decision's action, or `lift` when decisions were lifted. */
  event: string;
  scope: string;
  source: string;
  actor: string;
  count: number;
}

export interface CampaignPage extends CampaignItem {
  updatedAt: number;
  accountStatus: { active: number; suspended: number; erased: number };
  lookups: CampaignSummary['lookups'];
  numbersAsked: number;
  origins: { countries: CampaignSummary['countries']; asns: CampaignSummary['asns'] };
  blocks: { distinct: number; numbers: number; top: CampaignSummary['blocks']['list']; truncated: boolean };
  timeline: TimelineEntry[];
  evidence: JsonValue;
}

const TOP_BLOCKS = 200;
const CSV_PAGE = 5000;

export class ConsoleCampaigns {
  constructor(private readonly db: Kysely<Database>) {}

  async list(opts: { status?: CampaignsTable['status'] | undefined; cursor?: string | undefined; limit?: number | undefined } = {}): Promise<{ items: CampaignItem[]; nextCursor: string | null }> {
    const limit = Math.min(Math.max(opts.limit ?? 50, 1), 200);
    let q = this.db.selectFrom('campaigns').selectAll();
    if (opts.status) q = q.where('status', '=', opts.status);
    const after = opts.cursor ? decodeCursor(opts.cursor) : undefined;
    if (after) q = q.where((eb) => eb.or([eb('detected_at', '<', after.at), eb.and([eb('detected_at', '=', after.at), eb('id', '<', after.id)])]));
    const rows = await q.orderBy('detected_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
    const items = rows.slice(0, limit).map(item);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.detectedAt, last.id) : null };
  }

  async page(id: string): Promise<CampaignPage> {
    const c = await this.db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst();
    if (!c) throw new AppError('not_found', 'no such campaign');
    const s = summaryOf(c);
    const statusRows = await this.db
      .selectFrom('campaign_accounts as ca')
      .leftJoin('accounts as a', 'a.id', 'ca.account_id')
      .select(['a.fg_status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('ca.campaign_id', '=', id)
      .groupBy('a.fg_status')
      .execute();
    const accountStatus = { active: 0, suspended: 0, erased: 0 };
    for (const r of statusRows) accountStatus[r.fg_status ?? 'erased'] += Number(r.n);
    return {
      ...item(c),
      updatedAt: Number(c.updated_at),
      accountStatus,
      lookups: s.lookups ?? { allowed: 0, refused: 0, challenged: 0 },
      numbersAsked: s.numbersAsked ?? 0,
      origins: { countries: s.countries ?? [], asns: s.asns ?? [] },
      blocks: {
        distinct: s.blocks?.distinct ?? 0,
        numbers: s.blocks?.numbers ?? 0,
        top: (s.blocks?.list ?? []).slice(0, TOP_BLOCKS),
        truncated: (s.blocks?.truncated ?? false) || (s.blocks?.list?.length ?? 0) > TOP_BLOCKS,
      },
      timeline: await this.timeline(c.id, c.cluster_id),
      evidence: parseJson(c.evidence),
    };
  }

  /**
   * The decisions taken against the campaign's cluster, grouped by moment, action and actor (a
   * suspension of 2,000 accounts is one line, not 2,000), and their lifting, oldest first.
   */
  private async timeline(campaignId: string, clusterId: string): Promise<TimelineEntry[]> {
    const made = await this.db
      .selectFrom('decisions')
      .select(['created_at', 'action', 'scope', 'source', 'actor', (eb) => eb.fn.countAll<number>().as('n')])
      .where((eb) => eb.or([eb('campaign_id', '=', campaignId), eb('cluster_id', '=', clusterId)]))
      // What the engine would have done in shadow mode before is not part of what was done.
      .where('shadow', '=', 0)
      .groupBy(['created_at', 'action', 'scope', 'source', 'actor'])
      .execute();
    const lifted = await this.db
      .selectFrom('decisions')
      .select(['lifted_at', 'scope', 'lifted_by', (eb) => eb.fn.countAll<number>().as('n')])
      .where((eb) => eb.or([eb('campaign_id', '=', campaignId), eb('cluster_id', '=', clusterId)]))
      .where('shadow', '=', 0)
      .where('lifted_at', 'is not', null)
      .groupBy(['lifted_at', 'scope', 'lifted_by'])
      .execute();
    const out: TimelineEntry[] = [
      ...made.map((r) => ({ at: Number(r.created_at), event: r.action, scope: r.scope, source: r.source, actor: r.actor, count: Number(r.n) })),
      ...lifted.map((r) => ({ at: Number(r.lifted_at), event: 'lift', scope: r.scope, source: r.lifted_by === 'engine' ? 'engine' : 'operator', actor: r.lifted_by ?? '', count: Number(r.n) })),
    ];
    return out.sort((a, b) => a.at - b.at || (a.event < b.event ? -1 : a.event > b.event ? 1 : 0));
  }

  /**
   * The campaign's exposures as CSV (attacker account, exposed account, first exposed), streamed
   * page by page so a large campaign never sits whole in memory; a pair has a line per period the
   * rule judges apart (a new holder of the id, a scan after an old reinstatement), each with that
   * period's first answer. Account ids only: findguard stores no number to put there. The exposures its disclosure report lists (exposure-rule.ts),
   * not every stored row: a member revealed to another, what a reinstated person found.
   */
  async exposuresCsv(id: string): Promise<Readable> {
    const c = await this.db.selectFrom('campaigns').select('id').where('id', '=', id).executeTakeFirst();
    if (!c) throw new AppError('not_found', 'no such campaign');
    const db = this.db;
    const rule = await exposureRule(db, [id]);
    async function* rows(): AsyncGenerator<string> {
      yield 'campaign_id,attacker_account_id,exposed_account_id,first_exposed_at\r\n';
      // The whole key, time included: a pair holds a row per period (incidents/exposure-periods.ts).
      let after: { a: string; r: string; t: number } | undefined;
      for (;;) {
        let q = db.selectFrom('exposures').select(['attacker_account_id', 'revealed_account_id', 'at']).where('campaign_id', '=', id).where(rule.where);
        if (after) {
          const { a, r, t } = after;
          q = q.where((eb) =>
            eb.or([
              eb('attacker_account_id', '>', a),
              eb.and([eb('attacker_account_id', '=', a), eb('revealed_account_id', '>', r)]),
              eb.and([eb('attacker_account_id', '=', a), eb('revealed_account_id', '=', r), eb('at', '>', t)]),
            ]),
          );
        }
        const page = await q.orderBy('attacker_account_id').orderBy('revealed_account_id').orderBy('at').limit(CSV_PAGE).execute();
        if (page.length === 0) return;
        yield page.map((e) => `${csv(id)},${csv(e.attacker_account_id)},${csv(e.revealed_account_id)},${new Date(Number(e.at)).toISOString()}\r\n`).join('');
        const last = page[page.length - 1]!;
        after = { a: last.attacker_account_id, r: last.revealed_account_id, t: Number(last.at) };
        if (page.length < CSV_PAGE) return;
      }
    }
    return Readable.from(rows());
  }
}

/** RFC 4180 quoting, and a leading formula character neutralised (a spreadsheet must not run an id). */
function csv(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function summaryOf(r: Pick<CampaignsTable, 'summary'>): Partial<CampaignSummary> {
  return (parseJson(r.summary) ?? {}) as Partial<CampaignSummary>;
}

function item(r: CampaignsTable): CampaignItem {
  const listed = toListItem(r);
  const s = summaryOf(r);
  listed.countries = listed.countries.slice(0, 5);
  return { ...listed, exposurePairs: s.exposures?.pairs ?? 0 };
}

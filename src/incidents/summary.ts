import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { keepAnswer, type PeriodAnswer, type PeriodBounds } from './exposure-periods.js';

/**
 * What a campaign's accounts did, read from their stored lookup events: the time window,
 * where the calls came from, which number blocks they probed, and who they revealed. Events
 * carry number blocks and account ids only, so nothing here can hold a phone number.
 */

export interface CampaignSummary {
  accounts: number;
  lookups: { allowed: number; refused: number; challenged: number };
  /** Sum of distinct values asked per call. */
  numbersAsked: number;
  /** Calls per origin country (null: unknown), most first. */
  countries: Array<{ country: string | null; lookups: number }>;
  asns: Array<{ asn: number | null; lookups: number }>;
  blocks: {
    distinct: number;
    /** Values asked across all blocks (refused calls included: they were probes all the same). */
    numbers: number;
    /** Most-probed first, at most BLOCKS_LISTED of them. */
    list: Array<{ block: string; numbers: number }>;
    truncated: boolean;
  };
  exposures: { pairs: number; accounts: number };
}

/** A sequential scan of a country probes thousands of blocks; the summary lists the most probed. */
export const BLOCKS_LISTED = 10_000;
const PAGE = 2_000;

/** Running aggregation over events, account by account. */
export class EventScan {
  firstSeen: number | undefined;
  lastSeen: number | undefined;
  readonly lookups = { allowed: 0, refused: 0, challenged: 0 };
  numbersAsked = 0;
  private readonly countries = new Map<string | null, number>();
  private readonly asns = new Map<number | null, number>();
  private readonly blocks = new Map<string, number>();

  /**
   * Reads one account's events in time order and returns what they revealed to it: revealed
   * account id -> the first answer in each period `bounds` splits its answers into
   * (exposure-periods.ts). `exclude` (the campaign's own accounts) is left out: fake accounts
   * finding each other expose no one.
   */
  async account(db: Kysely<Database>, accountId: string, exclude: ReadonlySet<string>, bounds: PeriodBounds): Promise<Map<string, PeriodAnswer[]>> {
    const reveals = new Map<string, PeriodAnswer[]>();
    let after: { at: number; id: string } | undefined;
    for (;;) {
      let q = db
        .selectFrom('lookup_events')
        .select(['id', 'at', 'country', 'asn', 'outcome', 'numbers', 'blocks', 'revealed'])
        .where('account_id', '=', accountId);
      if (after) {
        const { at, id } = after;
        q = q.where((eb) => eb.or([eb('at', '>', at), eb.and([eb('at', '=', at), eb('id', '>', id)])]));
      }
      const rows = await q.orderBy('at').orderBy('id').limit(PAGE).execute();
      const answered = rows.map((r) => (r.outcome === 'allowed' ? parseArray(r.revealed).filter((id): id is string => typeof id === 'string' && !exclude.has(id)) : []));
      await bounds.load(answered.flat());
      for (const [i, r] of rows.entries()) {
        const at = Number(r.at);
        this.firstSeen = this.firstSeen === undefined ? at : Math.min(this.firstSeen, at);
        this.lastSeen = this.lastSeen === undefined ? at : Math.max(this.lastSeen, at);
        if (r.outcome === 'allowed' || r.outcome === 'refused' || r.outcome === 'challenged') this.lookups[r.outcome]++;
        this.numbersAsked += r.numbers;
        bump(this.countries, r.country);
        bump(this.asns, r.asn === null ? null : Number(r.asn));
        for (const [block, n] of Object.entries(parseObject(r.blocks))) {
          if (typeof n === 'number' && n > 0) this.blocks.set(block, (this.blocks.get(block) ?? 0) + n);
        }
        for (const id of answered[i]!) {
          const kept = reveals.get(id) ?? [];
          keepAnswer(kept, bounds.startOf(id, at), at);
          reveals.set(id, kept);
        }
      }
      const last = rows.at(-1);
      if (!last || rows.length < PAGE) return reveals;
      after = { at: Number(last.at), id: last.id };
    }
  }

  summary(accounts: number, exposures: CampaignSummary['exposures']): CampaignSummary {
    const blocks = [...this.blocks].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    let numbers = 0;
    for (const [, n] of blocks) numbers += n;
    return {
      accounts,
      lookups: { ...this.lookups },
      numbersAsked: this.numbersAsked,
      countries: ranked(this.countries).map(([country, lookups]) => ({ country, lookups })),
      asns: ranked(this.asns).map(([asn, lookups]) => ({ asn, lookups })),
      blocks: {
        distinct: blocks.length,
        numbers,
        list: blocks.slice(0, BLOCKS_LISTED).map(([block, n]) => ({ block, numbers: n })),
        truncated: blocks.length > BLOCKS_LISTED,
      },
      exposures,
    };
  }
}

function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function ranked<K>(map: Map<K, number>): Array<[K, number]> {
  return [...map].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])));
}

// Event rows were checked against the event schema when stored; a damaged one is skipped, not fatal.
function parseObject(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function parseArray(text: string): unknown[] {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

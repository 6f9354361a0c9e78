import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import { subnetKeys } from '../net/index.js';
import { layoutOffLoop } from './layout.js';

/**
 * A campaign's cluster as a graph: its accounts, and the evidence that ties them (a shared device,
 * subnet or ASN, drawn as a hub the accounts point to, so 2,000 accounts on one network are 2,000
 * edges and not two million; and acting in step: two accounts calling from the same network in
 * the same minute, again and again). The layout is computed here, once per version of the
 * campaign, and kept: the browser draws positions and never runs the physics on 2,000 nodes.
 */

export type GraphNodeKind = 'account' | 'device' | 'subnet' | 'asn';
export type GraphEdgeKind = 'device' | 'subnet' | 'asn' | 'in-step';

export interface CampaignGraph {
  campaignId: string;
  /** The campaign's updated_at this layout was computed for. */
  version: number;
  nodes: Array<{ id: string; x: number; y: number; size: number; label: string; kind: GraphNodeKind }>;
  edges: Array<{ source: string; target: string; kind: GraphEdgeKind; weight: number }>;
  /** Evidence left out to keep the picture readable (hubs beyond MAX_HUBS, pairs beyond MAX_IN_STEP). */
  truncated: boolean;
}

const MINUTE = 60_000;
const MAX_HUBS = 400;
const MAX_IN_STEP = 6000;
/** A minute's network shared by more accounts than this is too common to say "in step". */
const IN_STEP_GROUP = 40;
/** Pairs that met in fewer minutes than this are coincidence. */
const IN_STEP_MIN = 2;
const CACHED = 32;
const CHUNK = 500;

export class CampaignGraphs {
  /** Insertion order is use order: the oldest entry goes first. */
  private readonly cache = new Map<string, CampaignGraph>();
  private readonly building = new Map<string, Promise<CampaignGraph>>();

  constructor(private readonly db: Kysely<Database>) {}

  /** Starts laying the campaign out without waiting (the page asks, so the graph is ready when the browser asks next). */
  warm(campaignId: string): void {
    // After the current answer has gone out: its reads must not wait behind these.
    setImmediate(() => void this.graph(campaignId).catch(() => undefined));
  }

  /** The campaign's graph, laid out; recomputed only when the campaign has changed since. */
  async graph(campaignId: string): Promise<CampaignGraph> {
    const c = await this.db.selectFrom('campaigns').select(['id', 'updated_at']).where('id', '=', campaignId).executeTakeFirst();
    if (!c) throw new AppError('not_found', 'no such campaign');
    const version = Number(c.updated_at);
    const hit = this.cache.get(campaignId);
    if (hit && hit.version === version) {
      this.cache.delete(campaignId);
      this.cache.set(campaignId, hit);
      return hit;
    }
    const key = `${campaignId}@${version}`;
    let pending = this.building.get(key);
    if (!pending) {
      pending = this.build(campaignId, version).finally(() => this.building.delete(key));
      this.building.set(key, pending);
    }
    const g = await pending;
    this.cache.delete(campaignId);
    this.cache.set(campaignId, g);
    while (this.cache.size > CACHED) this.cache.delete(this.cache.keys().next().value!);
    return g;
  }

  private async build(campaignId: string, version: number): Promise<CampaignGraph> {
    const members = (await this.db.selectFrom('campaign_accounts').select('account_id').where('campaign_id', '=', campaignId).orderBy('account_id').execute()).map((r) => r.account_id);
    const hubs = new Map<string, Set<string>>();
    const share = (key: string, account: string) => {
      const set = hubs.get(key);
      if (set) set.add(account);
      else hubs.set(key, new Set([account]));
    };
    const minutes = new Map<string, string[]>();
    const revealed = new Map<string, number>();
    for (let i = 0; i < members.length; i += CHUNK) {
      const chunk = members.slice(i, i + CHUNK);
      const events = await this.db.selectFrom('lookup_events').select(['account_id', 'at', 'device_id', 'subnet', 'asn']).where('account_id', 'in', chunk).execute();
      for (const e of events) {
        if (e.device_id !== null) share(`device:${e.device_id}`, e.account_id);
        share(`subnet:${e.subnet}`, e.account_id);
        if (e.asn !== null) share(`asn:${Number(e.asn)}`, e.account_id);
        const m = `${Math.floor(Number(e.at) / MINUTE)}|${e.asn ?? e.subnet}`;
        const list = minutes.get(m);
        if (!list) minutes.set(m, [e.account_id]);
        else if (list[list.length - 1] !== e.account_id && !list.includes(e.account_id)) list.push(e.account_id);
      }
      const signups = await this.db.selectFrom('accounts').select(['id', 'signup_device', 'signup_ip']).where('id', 'in', chunk).execute();
      for (const a of signups) {
        if (a.signup_device) share(`device:${a.signup_device}`, a.id);
        if (a.signup_ip) {
          try {
            share(`subnet:${subnetKeys(a.signup_ip).subnet}`, a.id);
          } catch {
            // A sign-up address the app sent that is not one: no evidence.
          }
        }
      }
      const exposures = await this.db
        .selectFrom('exposures')
        // Ids revealed, not rows: a pair may hold a row per period (incidents/exposure-periods.ts).
        .select(['attacker_account_id', (eb) => eb.fn.count<number>('revealed_account_id').distinct().as('n')])
        .where('campaign_id', '=', campaignId)
        .where('attacker_account_id', 'in', chunk)
        .groupBy('attacker_account_id')
        .execute();
      for (const r of exposures) revealed.set(r.attacker_account_id, Number(r.n));
    }

    const nodes: CampaignGraph['nodes'] = members.map((id) => ({ id: `a:${id}`, x: 0, y: 0, size: round(2 + Math.log2(1 + (revealed.get(id) ?? 0))), label: id, kind: 'account' }));
    const edges: CampaignGraph['edges'] = [];
    // Hubs shared by at least two accounts, the most shared first.
    const shared = [...hubs].filter(([, s]) => s.size >= 2).sort((a, b) => b[1].size - a[1].size || (a[0] < b[0] ? -1 : 1));
    let truncated = shared.length > MAX_HUBS;
    for (const [key, accounts] of shared.slice(0, MAX_HUBS)) {
      const kind = key.slice(0, key.indexOf(':')) as 'device' | 'subnet' | 'asn';
      const value = key.slice(kind.length + 1);
      nodes.push({ id: `h:${key}`, x: 0, y: 0, size: round(3 + Math.log2(accounts.size)), label: kind === 'asn' ? `AS${value}` : value, kind });
      for (const a of accounts) edges.push({ source: `a:${a}`, target: `h:${key}`, kind, weight: 1 });
    }
    // In step: consecutive members of each minute's network group, counted over minutes.
    const pairs = new Map<string, number>();
    for (const list of minutes.values()) {
      if (list.length < 2 || list.length > IN_STEP_GROUP) continue;
      list.sort();
      for (let i = 0; i + 1 < list.length; i++) {
        const k = `${list[i]}\n${list[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + 1);
      }
    }
    const inStep = [...pairs].filter(([, n]) => n >= IN_STEP_MIN).sort((a, b) => b[1] - a[1]);
    if (inStep.length > MAX_IN_STEP) truncated = true;
    for (const [k, n] of inStep.slice(0, MAX_IN_STEP)) {
      const [a, b] = k.split('\n') as [string, string];
      edges.push({ source: `a:${a}`, target: `a:${b}`, kind: 'in-step', weight: n });
    }
    // ForceAtlas2 on 2,000 nodes takes seconds of CPU: off the event loop, so discovery calls on
    // this node are never held up by an operator opening a campaign.
    const positions = await layoutOffLoop({ kinds: nodes.map((n) => n.kind), edges: edges.map((e) => [index(nodes, e.source), index(nodes, e.target), e.weight]) });
    nodes.forEach((n, i) => {
      n.x = round(positions[2 * i]!);
      n.y = round(positions[2 * i + 1]!);
    });
    return { campaignId, version, nodes, edges, truncated };
  }
}

/** Node positions by id, built once per layout (ids are unique). */
const indexCache = new WeakMap<object, Map<string, number>>();
function index(nodes: CampaignGraph['nodes'], id: string): number {
  let m = indexCache.get(nodes);
  if (!m) indexCache.set(nodes, (m = new Map(nodes.map((n, i) => [n.id, i]))));
  return m.get(id)!;
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

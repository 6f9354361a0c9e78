import { INFRA_KINDS, type AccountState, type FeatureStore, type InfraKind, type InfraState } from '../features/store.js';
import type { CompiledAbusePolicy } from '../policy.js';
import { fmt, rate, span, type Detector, type Finding, type InfraRef, type Observation } from './types.js';

/**
 * Coordination: accounts that belong together.
 *
 * In step (SynchroTrap, Cao et al. 2014): an action is (time bucket, object) with the object an
 * IP, subnet, ASN, device or number block. Each bucket is an inverted index object -> accounts;
 * when the bucket closes, every object shared by at most `maxKeyMembers` accounts adds one matched
 * action per kind to each of its pairs (objects shared by more are too common to mean anything,
 * and skipping them keeps the work linear). A pair is linked when, for some kind, it matched in
 * at least `minShared` buckets and its Jaccard (matched / union of the two accounts' actions of
 * that kind) reaches `minJaccard`. Never all pairs: only pairs that met on a rare object exist.
 *
 * Shared infrastructure: a device, address, subnet or network whose accounts are mostly suspicious
 * (new on hosting networks, or already showing enumeration behaviour). Rarity weighs it: carrier
 * NAT puts hundreds of people behind one address, a family shares a device, so sharing alone is
 * never the evidence; sharing among suspicious accounts, the rarer the better, is.
 *
 * Both weigh the accounts' own suspicion in, so coordination of ordinary people (a family on one
 * phone, friends syncing the same evening) links nothing strongly.
 */

export const COORDINATION = 'coordination';

const KINDS = ['ip', 'subnet', 'asn', 'device', 'block'] as const;
type ActionKind = (typeof KINDS)[number];
const KIND_INDEX: Record<ActionKind, number> = { ip: 0, subnet: 1, asn: 2, device: 3, block: 4 };
const GROUP_KIND_WEIGHT: Record<InfraKind, number> = { device: 1, ip: 1, subnet: 0.8, asn: 0.5 };

/** How suspicious an account is on its own: its enumeration score, or its context. */
export type SuspicionOf = (acc: AccountState, now: number) => number;

interface PairState {
  /** Buckets (ascending) in which the pair matched, and a bitmask of the kinds matched in each. */
  buckets: number[];
  masks: number[];
  /** The objects matched last, for the explanation. */
  sample: string;
}

interface AccountActions {
  buckets: number[];
  /** Per bucket, actions per kind (5 entries each). */
  counts: number[];
}

export class CoordinationDetector implements Detector {
  readonly name = COORDINATION;
  private readonly c: CompiledAbusePolicy['coordination'];
  private readonly windowBuckets: number;
  private bucket = -1;
  /** The open bucket's index: "kind\u0000object" -> accounts (null once too common). */
  private index = new Map<string, Set<string> | null>();
  private readonly pairs = new Map<string, PairState>();
  private readonly actions = new Map<string, AccountActions>();
  private readonly dirtyKeys = new Set<InfraState>();
  private readonly groups = new Map<InfraState, Finding>();

  constructor(
    private readonly store: FeatureStore,
    policy: CompiledAbusePolicy,
    private readonly suspicion: SuspicionOf,
  ) {
    this.c = policy.coordination;
    this.windowBuckets = Math.max(1, Math.round(this.c.windowMs / this.c.bucketMs));
  }

  observe(obs: Observation): void {
    if (obs.type === 'signup') {
      const s = obs.event;
      this.markKey('ip', s.ip);
      this.markKey('subnet', s.subnet);
      if (s.asn !== undefined) this.markKey('asn', String(s.asn));
      if (s.deviceId !== undefined) this.markKey('device', s.deviceId);
      return;
    }
    const e = obs.event;
    const b = Math.floor(e.at / this.c.bucketMs);
    if (b > this.bucket) this.roll(b);
    else if (b < this.bucket - 1) return; // too late to match anything still open
    const id = e.accountId;
    this.act('ip', e.ip, id);
    this.act('subnet', e.subnet, id);
    if (e.asn !== undefined) this.act('asn', String(e.asn), id);
    if (e.deviceId !== undefined) this.act('device', e.deviceId, id);
    if (obs.facts.blocks <= this.c.maxBlocksPerCall) for (const blk in e.blocks) this.act('block', blk, id);
    this.markKey('ip', e.ip);
    this.markKey('subnet', e.subnet);
    if (e.asn !== undefined) this.markKey('asn', String(e.asn));
    if (e.deviceId !== undefined) this.markKey('device', e.deviceId);
  }

  findings(now: number): Finding[] {
    const b = Math.floor(now / this.c.bucketMs);
    if (b > this.bucket) this.roll(b);
    const memo = new Map<string, number>();
    const susp = (acc: AccountState): number => {
      let s = memo.get(acc.id);
      if (s === undefined) {
        s = this.suspicion(acc, now);
        memo.set(acc.id, s);
      }
      return s;
    };
    const out = this.linkFindings(now, susp);
    for (const k of this.groups.keys()) this.dirtyKeys.add(k);
    for (const k of this.dirtyKeys) {
      const f = this.groupFinding(k, now, susp);
      if (f) this.groups.set(k, f);
      else this.groups.delete(k);
    }
    this.dirtyKeys.clear();
    for (const f of this.groups.values()) out.push(f);
    return out;
  }

  /** Pairs tracked (for metrics and benchmarks). */
  get pairCount(): number {
    return this.pairs.size;
  }

  private act(kind: ActionKind, object: string, accountId: string): void {
    const key = `${kind}\u0000${object}`;
    let members = this.index.get(key);
    if (members === null) return;
    if (members === undefined) {
      members = new Set();
      this.index.set(key, members);
    }
    members.add(accountId);
    if (members.size > this.c.maxKeyMembers) this.index.set(key, null);
  }

  /** Closes the open bucket: its rare objects become matched actions. */
  private roll(next: number): void {
    const closing = this.bucket;
    const index = this.index;
    this.index = new Map();
    this.bucket = next;
    if (closing < 0) return;
    for (const [key, members] of index) {
      if (members === null) continue;
      const cut = key.indexOf('\u0000');
      const kind = KIND_INDEX[key.slice(0, cut) as ActionKind];
      const ids = [...members];
      for (const id of ids) this.countAction(id, closing, kind);
      if (ids.length < 2) continue;
      ids.sort();
      for (let i = 0; i < ids.length; i++) {
        for (let j = i + 1; j < ids.length; j++) this.matchPair(ids[i]!, ids[j]!, closing, kind, key);
      }
    }
    this.prune(next);
  }

  private countAction(id: string, bucket: number, kind: number): void {
    let a = this.actions.get(id);
    if (!a) {
      a = { buckets: [], counts: [] };
      this.actions.set(id, a);
    }
    if (a.buckets[a.buckets.length - 1] !== bucket) {
      a.buckets.push(bucket);
      a.counts.push(0, 0, 0, 0, 0);
    }
    a.counts[a.counts.length - 5 + kind]!++;
  }

  private matchPair(a: string, b: string, bucket: number, kind: number, key: string): void {
    const pk = `${a}\n${b}`;
    let p = this.pairs.get(pk);
    if (!p) {
      if (this.pairs.size >= this.c.maxPairs) return;
      p = { buckets: [], masks: [], sample: '' };
      this.pairs.set(pk, p);
    }
    const last = p.buckets.length - 1;
    if (p.buckets[last] === bucket) p.masks[last]! |= 1 << kind;
    else {
      p.buckets.push(bucket);
      p.masks.push(1 << kind);
    }
    p.sample = key.replace('\u0000', ' ');
  }

  /** Drops what fell out of the window. */
  private prune(current: number): void {
    const oldest = current - this.windowBuckets;
    for (const [id, a] of this.actions) {
      let k = 0;
      while (k < a.buckets.length && a.buckets[k]! < oldest) k++;
      if (k === a.buckets.length) this.actions.delete(id);
      else if (k > 0) {
        a.buckets.splice(0, k);
        a.counts.splice(0, 5 * k);
      }
    }
    for (const [pk, p] of this.pairs) {
      let k = 0;
      while (k < p.buckets.length && p.buckets[k]! < oldest) k++;
      if (k === p.buckets.length) this.pairs.delete(pk);
      else if (k > 0) {
        p.buckets.splice(0, k);
        p.masks.splice(0, k);
      }
    }
  }

  private totals(id: string): number[] {
    const t = [0, 0, 0, 0, 0];
    const a = this.actions.get(id);
    if (a) for (let i = 0; i < a.counts.length; i++) t[i % 5]! += a.counts[i]!;
    return t;
  }

  private linkFindings(now: number, susp: (acc: AccountState) => number): Finding[] {
    const out: Finding[] = [];
    const w = this.c.weights;
    const weights = [w.ip, w.subnet, w.asn, w.device, w.block];
    for (const [pk, p] of this.pairs) {
      if (p.buckets.length < this.c.minShared) continue;
      const shared = [0, 0, 0, 0, 0];
      for (const m of p.masks) for (let k = 0; k < 5; k++) if (m & (1 << k)) shared[k]!++;
      const cut = pk.indexOf('\n');
      const a = pk.slice(0, cut);
      const b = pk.slice(cut + 1);
      const ta = this.totals(a);
      const tb = this.totals(b);
      let best = 0;
      let bestKind = -1;
      let bestJ = 0;
      for (let k = 0; k < 5; k++) {
        if (shared[k]! < this.c.minShared) continue;
        const j = shared[k]! / (ta[k]! + tb[k]! - shared[k]!);
        if (j >= this.c.minJaccard && j * weights[k]! > best) {
          best = j * weights[k]!;
          bestKind = k;
          bestJ = j;
        }
      }
      if (bestKind < 0) continue;
      const accA = this.store.account(a);
      const accB = this.store.account(b);
      if (!accA || !accB) continue;
      const together = Math.sqrt(susp(accA) * susp(accB));
      const score = best * together;
      if (score <= 0) continue;
      const kind = KINDS[bestKind]!;
      const from = p.buckets[0]! * this.c.bucketMs;
      const to = (p.buckets[p.buckets.length - 1]! + 1) * this.c.bucketMs;
      out.push({
        detector: COORDINATION,
        kind: 'link',
        accountIds: [a, b],
        score,
        signals: [`in-step-${kind}`],
        from,
        to,
        explanation:
          `accounts ${a} and ${b} acted on the same ${kind} in ${shared[bestKind]} of the same ${span(this.c.bucketMs)} buckets within ${span(now - from)} ` +
          `(Jaccard ${rate(bestJ)}; last: ${p.sample}); suspicion ${rate(together)}`,
      });
    }
    return out;
  }

  private markKey(kind: InfraKind, key: string): void {
    const st = this.store.infra(kind, key);
    if (st && st.memberCount >= this.c.groupMinMembers) this.dirtyKeys.add(st);
  }

  private groupFinding(st: InfraState, now: number, susp: (acc: AccountState) => number): Finding | undefined {
    const total = st.memberCount;
    if (total < this.c.groupMinMembers || now - st.lastAt > this.store.policy.idleTtlMs) return undefined;
    // Large keys are judged only if their traffic is mostly new accounts or hosting networks:
    // scoring the members of every carrier-NAT address each evaluation would cost too much.
    if (total > 4 * this.c.rareMembers && st.calls > 0 && Math.max(st.newAccountCalls, st.hostingCalls) / st.calls < 0.3) return undefined;
    const flagged: string[] = [];
    let sum = 0;
    let tracked = 0;
    for (const id of st.members.keys()) {
      const acc = this.store.account(id);
      if (!acc) continue;
      tracked++;
      const s = susp(acc);
      sum += s;
      if (s >= 0.5) flagged.push(id);
    }
    if (tracked === 0) return undefined;
    const share = flagged.length / tracked;
    if (flagged.length < this.c.groupMinMembers || share < this.c.groupMinSuspiciousShare) return undefined;
    const rarity = Math.min(1, this.c.rareMembers / total);
    const mean = sum / tracked;
    const score = GROUP_KIND_WEIGHT[st.kind] * mean * (rarity + (1 - rarity) * share * share);
    const infra: InfraRef = { kind: st.kind, key: st.key, members: total };
    const newShare = st.calls > 0 ? st.newAccountCalls / st.calls : 0;
    const hostingShare = st.calls > 0 ? st.hostingCalls / st.calls : 0;
    return {
      detector: COORDINATION,
      kind: 'group',
      accountIds: flagged,
      score,
      signals: [`shared-${st.kind}`],
      infra: [infra],
      from: st.firstAt,
      to: st.lastAt,
      explanation:
        `${st.kind} ${st.key} is shared by ${fmt(total)} accounts over ${span(st.lastAt - st.firstAt)}, ${fmt(flagged.length)} of ${fmt(tracked)} tracked suspicious ` +
        `(${Math.round(newShare * 100)}% of its calls from new accounts, ${Math.round(hostingShare * 100)}% from hosting networks${st.signups > 0 ? `, ${fmt(st.signups)} sign-ups` : ''})`,
    };
  }
}

export { INFRA_KINDS };

import { type AccountState, type FeatureStore, type InfraKind, type InfraState } from '../features/store.js';
import type { CompiledAbusePolicy } from '../../policy/index.js';
import { explainedLater, fmt, rate, span, type Detector, type Finding, type InfraRef, type Observation } from './types.js';

/**
 * Coordination: accounts that belong together.
 *
 * In step (SynchroTrap, Cao et al. 2014): an action is (time bucket, object) with the object an
 * IP, subnet, ASN, device or number block (blocks of dense calls only: slices of a range). Each
 * bucket is an inverted index object -> accounts; when the bucket closes, every object shared by
 * at most `maxKeyMembers` accounts adds one matched action per kind to each of its pairs (objects
 * shared by more are too common to mean anything, and skipping them keeps the work linear). A pair is linked when, for some kind, it matched in
 * at least `minShared` buckets and its Jaccard (matched / union of the two accounts' actions of
 * that kind) reaches `minJaccard`. Never all pairs: only pairs that met on a rare object exist.
 * Action totals are kept only for accounts that have met another one within the window (most
 * never do), so Jaccard counts from an account's first meeting: an approximation that keeps
 * memory proportional to the accounts that matter.
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
const GROUP_KIND_WEIGHT: Record<InfraKind, number> = { device: 1, ip: 1, subnet: 0.8, asn: 0.5 };
/** Suspicion at which a key's member counts as suspicious (a new account on a residential network does not). */
const FLAGGED = 0.4;

/** How suspicious an account is on its own: its enumeration score, or its context. */
export type SuspicionOf = (acc: AccountState, now: number) => number;

/** One account (most objects have one), a few, or null once too common to mean anything. */
type Members = string | string[] | Set<string> | null;
/** Members are kept in an array up to this many, then in a set. */
const ARRAY_MEMBERS = 8;

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
  /** The open bucket's index per kind: object -> its account, its accounts, or null once too common. */
  private index: Array<Map<string, Members>> = KINDS.map(() => new Map());
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
      this.markKeys(s.ip, s.subnet, s.asn, s.deviceId);
      return;
    }
    const e = obs.event;
    const f = obs.facts;
    // Links are weighed by the accounts' suspicion, so an aged account on an ordinary network doing
    // ordinary calls could never make one: leaving it out of the index is what keeps carrier NAT
    // (hundreds of people meeting on one address every hour) from costing quadratic work.
    const candidate = f.newAccount || f.hosting || f.dense || f.account.flagged;
    this.markKeys(e.ip, e.subnet, e.asn, e.deviceId);
    if (!candidate) return;
    const b = Math.floor(e.at / this.c.bucketMs);
    if (b > this.bucket) this.roll(b);
    else if (b < this.bucket - 1) return; // too late to match anything still open
    const id = e.accountId;
    this.act(0, e.ip, id);
    this.act(1, e.subnet, id);
    if (e.asn !== undefined) this.act(2, String(e.asn), id);
    if (e.deviceId !== undefined) this.act(3, e.deviceId, id);
    // A block means something only as a slice of a range: people look numbers up in the same
    // popular blocks every hour.
    if (f.dense) for (const blk in e.blocks) this.act(4, blk, id);
  }

  findings(now: number): Finding[] {
    const b = Math.floor(now / this.c.bucketMs);
    if (b > this.bucket) this.roll(b);
    // Suspicion by account id, once per evaluation; -1 for an id the store no longer holds. Busy
    // keys share members (an account's address, subnet, network and device), so most are repeats.
    const memo = new Map<string, number>();
    const susp = (id: string): number => {
      let s = memo.get(id);
      if (s === undefined) {
        const acc = this.store.account(id);
        s = acc ? this.suspicion(acc, now) : -1;
        memo.set(id, s);
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

  private act(kind: number, object: string, id: string): void {
    const index = this.index[kind]!;
    const cur = index.get(object);
    if (cur === null) return;
    if (cur === undefined) index.set(object, id);
    else if (typeof cur === 'string') {
      if (cur !== id) index.set(object, [cur, id]);
    } else if (Array.isArray(cur)) {
      if (cur.includes(id)) return;
      if (cur.length >= this.c.maxKeyMembers) index.set(object, null);
      else if (cur.length < ARRAY_MEMBERS) cur.push(id);
      else index.set(object, new Set(cur).add(id));
    } else {
      cur.add(id);
      if (cur.size > this.c.maxKeyMembers) index.set(object, null);
    }
  }

  /** Closes the open bucket: its rare objects become matched actions. */
  private roll(next: number): void {
    const closing = this.bucket;
    const index = this.index;
    this.index = KINDS.map(() => new Map());
    this.bucket = next;
    if (closing < 0) return;
    // Accounts that met someone this bucket, or before within the window, have their actions counted.
    const met = new Set<string>();
    for (const byObject of index) {
      for (const m of byObject.values()) {
        if (m === null || typeof m === 'string') continue;
        for (const id of m) met.add(id);
      }
    }
    for (let kind = 0; kind < index.length; kind++) {
      for (const [object, m] of index[kind]!) {
        if (m === null) continue;
        if (typeof m === 'string') {
          if (met.has(m) || this.actions.has(m)) this.countAction(m, closing, kind);
          continue;
        }
        const ids = [...m].sort();
        for (const id of ids) this.countAction(id, closing, kind);
        const sample = `${KINDS[kind]} ${object}`;
        for (let i = 0; i < ids.length; i++) {
          for (let j = i + 1; j < ids.length; j++) this.matchPair(ids[i]!, ids[j]!, closing, kind, sample);
        }
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

  private matchPair(a: string, b: string, bucket: number, kind: number, sample: string): void {
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
    p.sample = sample;
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

  private linkFindings(now: number, susp: (id: string) => number): Finding[] {
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
      const sa = susp(a);
      const sb = sa < 0 ? -1 : susp(b);
      if (sa < 0 || sb < 0) continue;
      const together = Math.sqrt(sa * sb);
      const score = best * together;
      if (score <= 0) continue;
      const kind = KINDS[bestKind]!;
      const from = p.buckets[0]! * this.c.bucketMs;
      const to = (p.buckets[p.buckets.length - 1]! + 1) * this.c.bucketMs;
      // Written when read, from values taken now (the pair's sample changes as buckets close).
      const matched = shared[bestKind]!;
      const sample = p.sample;
      const bucketMs = this.c.bucketMs;
      out.push(
        explainedLater(
          { detector: COORDINATION, kind: 'link', accountIds: [a, b], score, signals: [`in-step-${kind}`], from, to },
          () =>
            `accounts ${a} and ${b} acted on the same ${kind} in ${matched} of the same ${span(bucketMs)} buckets within ${span(now - from)} ` +
            `(Jaccard ${rate(bestJ)}; last: ${sample}); suspicion ${rate(together)}`,
        ),
      );
    }
    return out;
  }

  private markKeys(ip: string, subnet: string, asn: number | undefined, device: string | undefined): void {
    this.markKey('ip', ip);
    this.markKey('subnet', subnet);
    if (asn !== undefined) this.markKey('asn', String(asn));
    if (device !== undefined) this.markKey('device', device);
  }

  private markKey(kind: InfraKind, key: string): void {
    const st = this.store.infra(kind, key);
    if (st && st.memberCount >= this.c.groupMinMembers) this.dirtyKeys.add(st);
  }

  private groupFinding(st: InfraState, now: number, susp: (id: string) => number): Finding | undefined {
    const total = st.memberCount;
    if (total < this.c.groupMinMembers || now - st.lastAt > this.store.policy.idleTtlMs) return undefined;
    // Large keys are judged only if their traffic is mostly new accounts or hosting networks:
    // scoring the members of every carrier-NAT address each evaluation would cost too much.
    if (total > 4 * this.c.rareMembers && st.calls > 0 && Math.max(st.newAccountCalls, st.hostingCalls) / st.calls < 0.3) return undefined;
    const flagged: string[] = [];
    let sum = 0;
    let tracked = 0;
    const minMembers = this.c.groupMinMembers;
    const minShare = this.c.groupMinSuspiciousShare;
    let left = st.members.size;
    for (const id of st.members.keys()) {
      left--;
      const s = susp(id);
      if (s < 0) continue;
      tracked++;
      sum += s;
      if (s >= FLAGGED) flagged.push(id);
      // Settled once even every member still unread being tracked and flagged could not make the
      // bars: most keys judged are ordinary people's, and reading every member's suspicion at every
      // evaluation was the detector's cost. Suspicion has no side effect, so stopping changes nothing;
      // the bound is computed as the final share is (a division), so rounding cannot split them.
      else if (flagged.length + left < minMembers || (flagged.length + left) / (tracked + left) < minShare) return undefined;
    }
    if (tracked === 0) return undefined;
    const share = flagged.length / tracked;
    if (flagged.length < minMembers || share < minShare) return undefined;
    const rarity = Math.min(1, this.c.rareMembers / total);
    const mean = sum / tracked;
    let score = GROUP_KIND_WEIGHT[st.kind] * mean * (rarity + (1 - rarity) * share * share);
    // A household's phone stays in one country; one device behind accounts in several is a fleet's.
    const countries = st.countries.countSince(st.lastAt - this.c.windowMs);
    if (st.kind === 'device' && countries > 1) score += (1 - score) * 0.5 * Math.min(1, (countries - 1) / 2);
    const infra: InfraRef = { kind: st.kind, key: st.key, members: total };
    const newShare = st.calls > 0 ? st.newAccountCalls / st.calls : 0;
    const hostingShare = st.calls > 0 ? st.hostingCalls / st.calls : 0;
    // Written when read, from the key's figures as they are now (the key's state moves on).
    const { kind, key, firstAt, lastAt, signups } = st;
    const suspicious = flagged.length;
    return explainedLater(
      { detector: COORDINATION, kind: 'group', accountIds: flagged, score, signals: [`shared-${kind}`], infra: [infra], from: firstAt, to: lastAt },
      () =>
        `${kind} ${key} is shared by ${fmt(total)} accounts over ${span(lastAt - firstAt)}${countries > 1 ? ` from ${countries} countries` : ''}, ${fmt(suspicious)} of ${fmt(tracked)} tracked suspicious ` +
        `(${Math.round(newShare * 100)}% of its calls from new accounts, ${Math.round(hostingShare * 100)}% from hosting networks${signups > 0 ? `, ${fmt(signups)} sign-ups` : ''})`,
    );
  }
}


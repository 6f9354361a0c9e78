import type { Finding, InfraRef } from '../detectors/types.js';
import { noisyOr } from '../detectors/types.js';

/**
 * A cluster's score and the evidence behind it. Per detector, the cluster's strength is the mean
 * over its members of the strongest finding of that detector touching each member (a burst that
 * covers a tenth of the cluster says less about it than one that covers all of it); detectors
 * combine noisy-or with the policy's weights. A detector is "present" when its weighted strength
 * reaches the floor: suspending a cluster needs more than one present.
 */

/** Plain JSON (a type, not an interface, so it fits a JSON column or webhook payload as is). */
export type ClusterEvidence = {
  clusterId: string;
  /** Detectors whose weighted strength reached the floor. */
  detectors: string[];
  /** Each detector's strength in the cluster, before weights. */
  strengths: Record<string, number>;
  signals: string[];
  /** Shared infrastructure, most shared first (at most 8). */
  infrastructure: InfraRef[];
  /** Span of the evidence, epoch ms. */
  from: number;
  to: number;
  members: number;
  /** Explanations an operator can check, strongest first (at most 5). */
  samples: string[];
};

export interface MemberEvidence {
  /** Noisy-or of the account's own findings (account-kind). */
  score: number;
  signals: string[];
  explanation?: string;
}

export interface ScoredCluster {
  /** Provisional id from the members; the engine keeps ids stable across evaluations. */
  id: string;
  accountIds: string[];
  score: number;
  evidence: ClusterEvidence;
  members: Map<string, MemberEvidence>;
}

/** Extra evidence over a whole cluster (behaviour summed over its members). */
export type ClusterAggregate = (accountIds: readonly string[]) => Finding | undefined;

export interface ScoreOptions {
  weights: Record<string, number>;
  detectorFloor: number;
  aggregate?: ClusterAggregate;
}

const SAMPLES = 5;
const INFRA = 8;

export function scoreClusters(groups: readonly (readonly string[])[], findings: readonly Finding[], opts: ScoreOptions): ScoredCluster[] {
  const byAccount = new Map<string, Finding[]>();
  for (const f of findings) {
    for (const id of f.accountIds) {
      let list = byAccount.get(id);
      if (!list) {
        list = [];
        byAccount.set(id, list);
      }
      list.push(f);
    }
  }
  return groups.map((ids) => scoreOne(ids, byAccount, opts));
}

function scoreOne(ids: readonly string[], byAccount: Map<string, Finding[]>, opts: ScoreOptions): ScoredCluster {
  const seen = new Set<Finding>();
  const strongest = new Map<string, number>();
  const sums = new Map<string, number>();
  const members = new Map<string, MemberEvidence>();
  for (const id of ids) {
    strongest.clear();
    const own: Finding[] = [];
    for (const f of byAccount.get(id) ?? []) {
      seen.add(f);
      if ((strongest.get(f.detector) ?? 0) < f.score) strongest.set(f.detector, f.score);
      if (f.kind === 'account') own.push(f);
    }
    for (const [d, s] of strongest) sums.set(d, (sums.get(d) ?? 0) + s);
    // Most members of a large cluster have no finding of their own: noisyOr of nothing is 0.
    if (own.length === 0) {
      members.set(id, { score: 0, signals: [] });
      continue;
    }
    own.sort((a, b) => b.score - a.score);
    const score = noisyOr(own.map((f) => f.score));
    const signals = [...new Set(own.flatMap((f) => f.signals))];
    // The explanation is the top finding's, read only when a decision is worded (findings write it lazily).
    const top = own[0];
    members.set(
      id,
      top
        ? {
            score,
            signals,
            get explanation(): string {
              return top.explanation;
            },
          }
        : { score, signals },
    );
  }
  const strengths: Record<string, number> = {};
  for (const [d, s] of sums) strengths[d] = s / ids.length;
  const aggregate = ids.length > 1 ? opts.aggregate?.(ids) : undefined;
  if (aggregate && aggregate.score > (strengths[aggregate.detector] ?? 0)) {
    strengths[aggregate.detector] = aggregate.score;
    seen.add(aggregate);
  }
  const detectors: string[] = [];
  const parts: number[] = [];
  for (const [d, s] of Object.entries(strengths)) {
    const w = (opts.weights[d] ?? 0.5) * s;
    parts.push(w);
    if (w >= opts.detectorFloor) detectors.push(d);
  }
  // Only the findings that name infrastructure need the order by score (a key's first mention wins,
  // and ties of size keep it): sorted alone, stably, they keep the order they have in the whole
  // sorted list. Signals, from and to do not depend on the order; the samples take out the few they need.
  const named: Finding[] = [];
  const signalSet = new Set<string>();
  let from = Number.POSITIVE_INFINITY;
  let to = 0;
  for (const f of seen) {
    if (f.infra) named.push(f);
    for (const x of f.signals) signalSet.add(x);
    if (f.from < from) from = f.from;
    if (f.to > to) to = f.to;
  }
  if (seen.size === 0) from = 0;
  named.sort((a, b) => b.score - a.score);
  const infra = new Map<string, InfraRef>();
  for (const f of named) for (const r of f.infra!) if (!infra.has(`${r.kind}:${r.key}`)) infra.set(`${r.kind}:${r.key}`, r);
  detectors.sort();
  const id = clusterIdOf(ids);
  return {
    id,
    accountIds: [...ids],
    score: noisyOr(parts),
    evidence: {
      clusterId: id,
      detectors,
      strengths,
      signals: [...signalSet].sort(),
      infrastructure: [...infra.values()].sort((a, b) => b.members - a.members).slice(0, INFRA),
      from,
      to,
      members: ids.length,
      samples: samplesOf(detectors, seen),
    },
    members,
  };
}

/**
 * Explanations an operator can check: the strongest finding of each detector first, then the rest
 * by score (ties in the order the findings came, as a stable sort gives). Written now, a handful
 * of sentences: written when read, they kept every finding of the cluster alive with its evidence,
 * and the evaluation's findings outlived the young generation's collections and were promoted
 * (twitter-2019 at 10,000 accounts: about half the 0.9 GB promoted over the run that 353a671
 * added). Only the few findings that give a sample are taken out in order, not all sorted.
 */
function samplesOf(detectors: readonly string[], seen: ReadonlySet<Finding>): string[] {
  const all = [...seen];
  const samples: string[] = [];
  for (const d of detectors) {
    let best: Finding | undefined;
    for (const f of all) if (f.detector === d && (best === undefined || f.score > best.score)) best = f;
    if (best) samples.push(best.explanation);
  }
  const taken = new Uint8Array(all.length);
  for (let scanned = 0; samples.length < SAMPLES && scanned < all.length; scanned++) {
    // Sentences repeating one taken already are skipped: past a few, sorting all is cheaper.
    if (scanned === 2 * SAMPLES + detectors.length) return samplesSorted(samples, all.sort((a, b) => b.score - a.score), scanned);
    let k = -1;
    for (let i = 0; i < all.length; i++) if (taken[i] === 0 && (k < 0 || all[i]!.score > all[k]!.score)) k = i;
    taken[k] = 1;
    const text = all[k]!.explanation;
    if (!samples.includes(text)) samples.push(text);
  }
  return samples.slice(0, SAMPLES);
}

/** samplesOf past the first `from` findings of `sorted`, the order it took them out in. */
function samplesSorted(samples: string[], sorted: readonly Finding[], from: number): string[] {
  for (let i = from; i < sorted.length && samples.length < SAMPLES; i++) {
    const text = sorted[i]!.explanation;
    if (!samples.includes(text)) samples.push(text);
  }
  return samples.slice(0, SAMPLES);
}

/** A stable, short id from the members: FNV-1a of the smallest account id. */
export function clusterIdOf(ids: readonly string[]): string {
  let min = ids[0] ?? '';
  for (const id of ids) if (id < min) min = id;
  let h = 0x811c9dc5;
  for (let i = 0; i < min.length; i++) h = Math.imul(h ^ min.charCodeAt(i), 0x01000193);
  return `c-${(h >>> 0).toString(16).padStart(8, '0')}`;
}

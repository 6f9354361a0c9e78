import type { Finding } from '../detectors/types.js';
import { clusterAccounts, type ClusterOptions, type Clustering } from './cluster.js';
import { EvidenceGraph } from './graph.js';
import { ReferenceEvidenceGraph, referenceClusterAccounts } from './reference.js';

/**
 * The engine's clustering of its findings, each evaluation. The clusters are a function of the
 * evidence graph (nodes, edges, their order and weights; Louvain's generator is seeded anew each
 * time), so an evaluation whose graph is the last one's takes the last one's clusters: a memo that
 * cannot change a decision. The graph is a function of the findings' kinds, accounts and scores (in
 * order), so those are compared first, without building the graph: in a replay most evaluations
 * see the same sign-up bursts and shared addresses as the minute before. `reference` clusters every evaluation from scratch on the original
 * graphology code instead (reference.ts), the oracle of the replay-equivalence tests.
 */
export class Clusterer {
  private readonly opts: ClusterOptions;
  private last: { graph: EvidenceGraph; clustering: Clustering; evidence: Evidence[] } | undefined;
  /** Evaluations that reused the last clustering (for tests and benchmarks). */
  reused = 0;

  constructor(
    policy: ClusterOptions,
    private readonly reference: boolean,
  ) {
    this.opts = { strongLink: policy.strongLink, minLink: policy.minLink, resolution: policy.resolution, seed: policy.seed };
  }

  cluster(findings: readonly Finding[]): Clustering {
    if (this.reference) {
      const graph = new ReferenceEvidenceGraph();
      evidenceOf(graph, findings, this.opts.minLink);
      return referenceClusterAccounts(graph, this.opts);
    }
    const evidence = findings.map((f) => evidenceItem(f, this.opts.minLink));
    if (this.last && sameEvidence(this.last.evidence, evidence)) {
      this.reused++;
      return copyOf(this.last.clustering);
    }
    const graph = new EvidenceGraph();
    evidenceOf(graph, findings, this.opts.minLink);
    if (this.last && this.last.graph.sameShape(graph)) {
      this.reused++;
      this.last.evidence = evidence;
      return copyOf(this.last.clustering);
    }
    const clustering = clusterAccounts(graph, this.opts);
    this.last = { graph, clustering: copyOf(clustering), evidence };
    return clustering;
  }
}

/**
 * What of a finding the graph is built from: its accounts, as a node each (kind 0) or linked with
 * the score (1). The detector only names the edge's detectors, which clustering does not read.
 * Holds the finding's own accountIds array: findings are not changed after they are made.
 */
interface Evidence {
  kind: 0 | 1;
  score: number;
  ids: readonly string[];
}

function evidenceItem(f: Finding, minLink: number): Evidence {
  return f.kind === 'account' || f.score < minLink ? { kind: 0, score: 0, ids: f.accountIds } : { kind: 1, score: f.score, ids: f.accountIds };
}

function sameEvidence(a: readonly Evidence[], b: readonly Evidence[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.kind !== y.kind || x.score !== y.score || x.ids.length !== y.ids.length) return false;
    if (x.ids === y.ids) continue;
    for (let k = 0; k < x.ids.length; k++) if (x.ids[k] !== y.ids[k]) return false;
  }
  return true;
}

/** A graph of the findings' evidence: links and groups at least `minLink` strong, every account named. */
export function evidenceOf(graph: EvidenceGraph | ReferenceEvidenceGraph, findings: readonly Finding[], minLink: number): void {
  for (const f of findings) {
    if (f.kind === 'account') for (const id of f.accountIds) graph.addAccount(id);
    else if (f.score < minLink) for (const id of f.accountIds) graph.addAccount(id);
    else if (f.kind === 'link') graph.link(f.accountIds[0]!, f.accountIds[1]!, f.score, f.detector);
    else graph.group(f.accountIds, f.score, f.detector);
  }
}

/** The memo hands out copies: whoever gets a clustering owns its arrays. */
function copyOf(c: Clustering): Clustering {
  return { ...c, clusters: c.clusters.map((l) => [...l]), singletons: [...c.singletons], timings: { ...c.timings } };
}

import type { Finding } from '../detectors/types.js';
import { clusterAccounts, type ClusterOptions, type Clustering } from './cluster.js';
import { EvidenceGraph } from './graph.js';
import { ReferenceEvidenceGraph, referenceClusterAccounts } from './reference.js';

/**
 * The engine's clustering of its findings, each evaluation. The clusters are a function of the
 * evidence graph (nodes, edges, their order and weights; Louvain's generator is seeded anew each
 * time), so an evaluation whose graph is the last one's takes the last one's clusters: a memo that
 * cannot change a decision. `reference` clusters every evaluation from scratch on the original
 * graphology code instead (reference.ts), the oracle of the replay-equivalence tests.
 */
export class Clusterer {
  private readonly opts: ClusterOptions;
  private last: { graph: EvidenceGraph; clustering: Clustering } | undefined;
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
    const graph = new EvidenceGraph();
    evidenceOf(graph, findings, this.opts.minLink);
    if (this.last && this.last.graph.sameShape(graph)) {
      this.reused++;
      return copyOf(this.last.clustering);
    }
    const clustering = clusterAccounts(graph, this.opts);
    this.last = { graph, clustering: copyOf(clustering) };
    return clustering;
  }
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

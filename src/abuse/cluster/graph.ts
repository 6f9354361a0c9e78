import { UndirectedGraph } from 'graphology';

/**
 * Accounts and the evidence that ties them, as a weighted undirected graph (graphology).
 * Edge weights are in [0, 1]; evidence arriving twice for a pair combines noisy-or, so two
 * independent weak links make a stronger one but never more than certainty.
 */

export interface EdgeAttributes {
  weight: number;
  /** Bit i set: detector i of `EvidenceGraph.detectors` contributed. */
  detectors: number;
}

/** Members per ring neighbour a group is wired with: each member is linked to the next `GROUP_DEGREE`. */
const GROUP_DEGREE = 2;

export class EvidenceGraph {
  readonly graph = new UndirectedGraph<Record<string, never>, EdgeAttributes>();
  private readonly detectorBits = new Map<string, number>();

  /** Detector names in bit order. */
  get detectors(): string[] {
    return [...this.detectorBits.keys()];
  }

  addAccount(id: string): void {
    this.graph.mergeNode(id);
  }

  link(a: string, b: string, weight: number, detector: string): void {
    if (a === b || !(weight > 0)) return;
    const bit = this.bit(detector);
    const w = Math.min(1, weight);
    // One call that creates the nodes and the edge as needed: this runs for every piece of evidence.
    this.graph.updateEdge(a, b, (attrs) =>
      attrs.weight === undefined ? { weight: w, detectors: bit } : { weight: 1 - (1 - attrs.weight) * (1 - w), detectors: (attrs.detectors ?? 0) | bit },
    );
  }

  /**
   * A group of accounts that belong together as one body of evidence. A clique would cost n^2
   * edges for a burst of hundreds; a ring with chords keeps it connected and dense enough for
   * Louvain to keep it whole, in O(n) edges.
   */
  group(ids: readonly string[], weight: number, detector: string): void {
    const n = ids.length;
    if (n < 2) {
      if (n === 1) this.addAccount(ids[0]!);
      return;
    }
    if (n <= GROUP_DEGREE + 2) {
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) this.link(ids[i]!, ids[j]!, weight, detector);
      return;
    }
    for (let i = 0; i < n; i++) for (let d = 1; d <= GROUP_DEGREE; d++) this.link(ids[i]!, ids[(i + d) % n]!, weight, detector);
  }

  private bit(detector: string): number {
    let b = this.detectorBits.get(detector);
    if (b === undefined) {
      if (this.detectorBits.size >= 30) throw new RangeError('EvidenceGraph: at most 30 detectors');
      b = 1 << this.detectorBits.size;
      this.detectorBits.set(detector, b);
    }
    return b;
  }
}

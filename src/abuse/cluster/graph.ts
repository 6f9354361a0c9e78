import { UndirectedGraph } from 'graphology';

/**
 * Accounts and the evidence that ties them, as a weighted undirected graph.
 * Edge weights are in [0, 1]; evidence arriving twice for a pair combines noisy-or, so two
 * independent weak links make a stronger one but never more than certainty.
 *
 * Plain arrays, not a graphology graph: the engine rebuilds this graph from every finding at each
 * evaluation (once a minute of event time, up to 10,080 times in a simulated week), and graphology's
 * per-edge objects and string keys were a quarter of a replay's CPU (BENCHMARKS.md, issue 18 point 3).
 * Nodes and edges keep their insertion order, and an edge the orientation of its first evidence,
 * exactly as graphology's `updateEdge` would: clusterAccounts replays that order, so the clusters
 * are the ones the graphology graph gave (reference.ts keeps that implementation as the oracle).
 */

export interface EdgeAttributes {
  weight: number;
  /** Bit i set: detector i of `EvidenceGraph.detectors` contributed. */
  detectors: number;
}

/** Members per ring neighbour a group is wired with: each member is linked to the next `GROUP_DEGREE`. */
export const GROUP_DEGREE = 2;

/** Pair keys are lo * PAIR + hi, exact in a double while node indices stay below PAIR. */
const PAIR = 2 ** 26;

export class EvidenceGraph {
  /** Node ids in insertion order. */
  readonly nodes: string[] = [];
  /** Edge i joins nodes[src[i]] and nodes[dst[i]], in the orientation its first evidence had. */
  readonly src: number[] = [];
  readonly dst: number[] = [];
  readonly weight: number[] = [];
  readonly bits: number[] = [];
  private readonly index = new Map<string, number>();
  private readonly edgeOf = new Map<number, number>();
  private readonly detectorBits = new Map<string, number>();

  /** Detector names in bit order. */
  get detectors(): string[] {
    return [...this.detectorBits.keys()];
  }

  /** Nodes. */
  get order(): number {
    return this.nodes.length;
  }

  /** Edges. */
  get size(): number {
    return this.src.length;
  }

  /**
   * The same graph as a graphology graph (same insertion order), for inspection and tests: built on
   * each call, so not for the engine's path.
   */
  get graph(): UndirectedGraph<Record<string, never>, EdgeAttributes> {
    const g = new UndirectedGraph<Record<string, never>, EdgeAttributes>();
    for (const id of this.nodes) g.addNode(id);
    for (let e = 0; e < this.src.length; e++) g.addEdge(this.nodes[this.src[e]!]!, this.nodes[this.dst[e]!]!, { weight: this.weight[e]!, detectors: this.bits[e]! });
    return g;
  }

  addAccount(id: string): void {
    this.node(id);
  }

  link(a: string, b: string, weight: number, detector: string): void {
    if (a === b || !(weight > 0)) return;
    const bit = this.bit(detector);
    const w = Math.min(1, weight);
    // Source first, then target: the order graphology's updateEdge creates missing nodes in.
    const i = this.node(a);
    const j = this.node(b);
    const key = i < j ? i * PAIR + j : j * PAIR + i;
    const e = this.edgeOf.get(key);
    if (e === undefined) {
      this.edgeOf.set(key, this.src.length);
      this.src.push(i);
      this.dst.push(j);
      this.weight.push(w);
      this.bits.push(bit);
    } else {
      this.weight[e] = 1 - (1 - this.weight[e]!) * (1 - w);
      this.bits[e]! |= bit;
    }
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

  /** Same nodes, same edges in the same order and orientation, same weights: clustering is a function of these. */
  sameShape(other: EvidenceGraph): boolean {
    return sameArray(this.nodes, other.nodes) && sameArray(this.src, other.src) && sameArray(this.dst, other.dst) && sameArray(this.weight, other.weight);
  }

  private node(id: string): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.nodes.length;
      if (i >= PAIR) throw new RangeError(`EvidenceGraph: at most ${PAIR} accounts`);
      this.index.set(id, i);
      this.nodes.push(id);
    }
    return i;
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

function sameArray<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

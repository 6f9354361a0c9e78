import { UndirectedGraph } from 'graphology';
import louvainModule from 'graphology-communities-louvain';
import { connectedComponents } from 'graphology-components';
import { SeededRandom } from '../../util/random.js';
import type { ClusterOptions, Clustering } from './cluster.js';
import { GROUP_DEGREE, type EdgeAttributes } from './graph.js';

/**
 * The evidence graph and clustering as they were before issue 18 point 3, on graphology, kept as
 * the oracle of the replay-equivalence tests: the engine's fast path (graph.ts, cluster.ts) must
 * give exactly these clusters, members in the same order, for the same findings. Not on the
 * engine's path unless asked for (AbuseEngineOptions.reference).
 */

type LouvainFn = (
  graph: UndirectedGraph<Record<string, never>, { weight: number }>,
  options: { getEdgeWeight: 'weight'; resolution: number; rng: () => number },
) => Record<string, number>;

const louvain: LouvainFn = ((m: unknown) => (typeof m === 'function' ? m : (m as { default: unknown }).default))(louvainModule) as LouvainFn;

export class ReferenceEvidenceGraph {
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

export function referenceClusterAccounts(evidence: ReferenceEvidenceGraph, opts: ClusterOptions): Clustering {
  const g = evidence.graph;
  let t = performance.now();
  const tick = (): number => {
    const now = performance.now();
    const d = now - t;
    t = now;
    return d;
  };

  const strong = new UndirectedGraph();
  g.forEachEdge((_e, attrs, s, d) => {
    if (attrs.weight < opts.strongLink) return;
    strong.mergeEdge(s, d);
  });
  const components = connectedComponents(strong);
  const rep = new Map<string, string>();
  const membersOf = new Map<string, string[]>();
  for (const comp of components) {
    const head = comp[0]!;
    membersOf.set(head, comp);
    for (const id of comp) rep.set(id, head);
  }
  const components_ms = tick();

  const contracted = new UndirectedGraph<Record<string, never>, { weight: number }>();
  for (const head of membersOf.keys()) contracted.addNode(head);
  g.forEachEdge((_e, attrs, s, d) => {
    if (attrs.weight < opts.minLink) return;
    const a = rep.get(s) ?? s;
    const b = rep.get(d) ?? d;
    if (a === b) return;
    contracted.updateEdge(a, b, (e) => ({ weight: (e.weight ?? 0) + attrs.weight }));
  });
  const contract_ms = tick();

  const rng = new SeededRandom(opts.seed);
  const community = contracted.order > 0 ? louvain(contracted, { getEdgeWeight: 'weight', resolution: opts.resolution, rng: () => rng.float() }) : {};
  const louvain_ms = tick();

  const byCommunity = new Map<number, string[]>();
  contracted.forEachNode((node) => {
    const c = community[node]!;
    let list = byCommunity.get(c);
    if (!list) {
      list = [];
      byCommunity.set(c, list);
    }
    const members = membersOf.get(node);
    if (members) for (const m of members) list.push(m);
    else list.push(node);
  });
  const clusters: string[][] = [];
  const clustered = new Set<string>();
  for (const list of byCommunity.values()) {
    if (list.length < 2) continue;
    clusters.push(list);
    for (const id of list) clustered.add(id);
  }
  clusters.sort((a, b) => b.length - a.length);
  const singletons: string[] = [];
  g.forEachNode((node) => {
    if (!clustered.has(node)) singletons.push(node);
  });
  return {
    clusters,
    singletons,
    strongComponents: components.length,
    timings: { components: components_ms, contract: contract_ms, louvain: louvain_ms, expand: tick() },
  };
}

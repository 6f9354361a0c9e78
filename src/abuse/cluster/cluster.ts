import { UndirectedGraph } from 'graphology';
import louvainModule from 'graphology-communities-louvain';
import { connectedComponents } from 'graphology-components';
import { SeededRandom } from '../../util/random.js';
import type { EvidenceGraph } from './graph.js';

/**
 * Clusters of accounts from the evidence graph, in two steps:
 * 1. strong links (at least `strongLink`) join accounts outright: their connected components are
 *    contracted into one node each, so no community split can separate a device's accounts;
 * 2. Louvain on the contracted graph (weights summed) splits or joins what weaker links suggest.
 * Accounts with no link (or only links under `minLink`) are clusters of one. Louvain's random
 * walk takes a seeded generator: the same evidence, added in the same order, gives the same clusters.
 */

export interface ClusterOptions {
  strongLink: number;
  minLink: number;
  resolution: number;
  seed: number;
}

export interface Clustering {
  /** Clusters of two or more accounts, largest first, members in graph order. */
  clusters: string[][];
  /** Accounts in no cluster of two or more. */
  singletons: string[];
  strongComponents: number;
  /** Timings in ms, for benchmarks and metrics. */
  timings: { components: number; contract: number; louvain: number; expand: number };
}

type LouvainFn = (
  graph: UndirectedGraph<Record<string, never>, { weight: number }>,
  options: { getEdgeWeight: 'weight'; resolution: number; rng: () => number },
) => Record<string, number>;

// The package is CommonJS with a default export in its types: under NodeNext the default import is
// the module object to the compiler but the function at run time (and `.default` under some loaders).
const louvain: LouvainFn = ((m: unknown) => (typeof m === 'function' ? m : (m as { default: unknown }).default))(louvainModule) as LouvainFn;

export function clusterAccounts(evidence: EvidenceGraph, opts: ClusterOptions): Clustering {
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

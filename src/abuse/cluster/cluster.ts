import { UndirectedGraph } from 'graphology';
import louvainModule from 'graphology-communities-louvain';
import { SeededRandom } from '../../util/random.js';
import type { EvidenceGraph } from './graph.js';

/**
 * Clusters of accounts from the evidence graph, in two steps:
 * 1. strong links (at least `strongLink`) join accounts outright: their connected components are
 *    contracted into one node each, so no community split can separate a device's accounts;
 * 2. Louvain on the contracted graph (weights summed) splits or joins what weaker links suggest.
 * Accounts with no link (or only links under `minLink`) are clusters of one. Louvain's random
 * walk takes a seeded generator: the same evidence, added in the same order, gives the same clusters.
 *
 * Steps 1 and the contraction run on the plain arrays of EvidenceGraph and replay what graphology
 * did before (reference.ts): the strong graph's node order, each node's neighbours in the order a
 * graphology adjacency object enumerates them, graphology-components' depth-first walk, and the
 * contracted graph's nodes, edges and summed weights in the order `updateEdge` built them. Only the
 * contracted graph, usually a few hundred nodes, is a graphology graph, because Louvain needs one.
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
  const { nodes, src, dst, weight } = evidence;
  const n = nodes.length;
  let t = performance.now();
  const tick = (): number => {
    const now = performance.now();
    const d = now - t;
    t = now;
    return d;
  };

  // 1. The strong graph: nodes in the order their first strong edge named them (source, then target).
  const strongNodes: number[] = [];
  const neighbours: number[][] = [];
  const inStrong = new Int32Array(n).fill(-1);
  for (let e = 0; e < src.length; e++) {
    if (weight[e]! < opts.strongLink) continue;
    const s = src[e]!;
    const d = dst[e]!;
    if (inStrong[s] === -1) {
      inStrong[s] = strongNodes.length;
      strongNodes.push(s);
      neighbours.push([]);
    }
    if (inStrong[d] === -1) {
      inStrong[d] = strongNodes.length;
      strongNodes.push(d);
      neighbours.push([]);
    }
    neighbours[inStrong[s]!]!.push(d);
    neighbours[inStrong[d]!]!.push(s);
  }
  // A graphology adjacency is a plain object keyed by neighbour id: integer-like keys enumerate
  // first, ascending, then the rest in insertion order. Account ids are rarely integer-like.
  const indexKey = (x: number): boolean => isArrayIndex(nodes[x]!);
  for (const list of neighbours) {
    if (!list.some(indexKey)) continue;
    const ints = list.filter(indexKey).sort((a, b) => Number(nodes[a]) - Number(nodes[b]));
    const rest = list.filter((x) => !indexKey(x));
    list.splice(0, list.length, ...ints, ...rest);
  }
  // graphology-components: a depth-first walk with a stack, each node marked when pushed.
  const seen = new Uint8Array(n);
  const stack: number[] = [];
  const head = new Int32Array(n).fill(-1);
  const membersOf = new Map<number, number[]>();
  let components = 0;
  for (const start of strongNodes) {
    if (seen[start]) continue;
    const comp: number[] = [];
    seen[start] = 1;
    stack.push(start);
    while (stack.length > 0) {
      const x = stack.pop()!;
      comp.push(x);
      for (const y of neighbours[inStrong[x]!]!) {
        if (seen[y]) continue;
        seen[y] = 1;
        stack.push(y);
      }
    }
    components++;
    membersOf.set(comp[0]!, comp);
    for (const x of comp) head[x] = comp[0]!;
  }
  const components_ms = tick();

  // 2. The contracted graph, in the order updateEdge built it: heads first, then each edge's ends
  // as they come; an edge's weight is the sum of its links' weights, added in edge order.
  const cNodes: number[] = [];
  const inContracted = new Uint8Array(n);
  for (const h of membersOf.keys()) {
    inContracted[h] = 1;
    cNodes.push(h);
  }
  const cSrc: number[] = [];
  const cDst: number[] = [];
  const cWeight: number[] = [];
  const cEdge = new Map<number, number>();
  for (let e = 0; e < src.length; e++) {
    const w = weight[e]!;
    if (w < opts.minLink) continue;
    const a = head[src[e]!]! >= 0 ? head[src[e]!]! : src[e]!;
    const b = head[dst[e]!]! >= 0 ? head[dst[e]!]! : dst[e]!;
    if (a === b) continue;
    if (!inContracted[a]) {
      inContracted[a] = 1;
      cNodes.push(a);
    }
    if (!inContracted[b]) {
      inContracted[b] = 1;
      cNodes.push(b);
    }
    const key = a < b ? a * n + b : b * n + a;
    const k = cEdge.get(key);
    if (k === undefined) {
      cEdge.set(key, cSrc.length);
      cSrc.push(a);
      cDst.push(b);
      cWeight.push(0 + w);
    } else cWeight[k]! += w;
  }
  const contracted = new UndirectedGraph<Record<string, never>, { weight: number }>();
  for (const x of cNodes) contracted.addNode(nodes[x]!);
  for (let k = 0; k < cSrc.length; k++) contracted.addEdge(nodes[cSrc[k]!]!, nodes[cDst[k]!]!, { weight: cWeight[k]! });
  const contract_ms = tick();

  const rng = new SeededRandom(opts.seed);
  const community = contracted.order > 0 ? louvain(contracted, { getEdgeWeight: 'weight', resolution: opts.resolution, rng: () => rng.float() }) : {};
  const louvain_ms = tick();

  const byCommunity = new Map<number, string[]>();
  for (const x of cNodes) {
    const c = community[nodes[x]!]!;
    let list = byCommunity.get(c);
    if (!list) {
      list = [];
      byCommunity.set(c, list);
    }
    const members = membersOf.get(x);
    if (members) for (const m of members) list.push(nodes[m]!);
    else list.push(nodes[x]!);
  }
  const clusters: string[][] = [];
  const clustered = new Set<string>();
  for (const list of byCommunity.values()) {
    if (list.length < 2) continue;
    clusters.push(list);
    for (const id of list) clustered.add(id);
  }
  clusters.sort((a, b) => b.length - a.length);
  const singletons: string[] = [];
  for (const id of nodes) if (!clustered.has(id)) singletons.push(id);
  return {
    clusters,
    singletons,
    strongComponents: components,
    timings: { components: components_ms, contract: contract_ms, louvain: louvain_ms, expand: tick() },
  };
}

/** Whether a plain object orders this key as an array index (before every other key). */
function isArrayIndex(key: string): boolean {
  if (key.length === 0 || key.length > 10) return false;
  if (key !== '0' && !/^[1-9][0-9]*$/.test(key)) return false;
  return Number(key) < 2 ** 32 - 1;
}

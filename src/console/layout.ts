import { UndirectedGraph } from 'graphology';
import forceAtlas2Module from 'graphology-layout-forceatlas2';
import { Worker } from 'node:worker_threads';

/**
 * The cluster graph's layout: a start close to the end (hubs on a circle, each account on a small
 * ring around the first hub it points to), then ForceAtlas2, Barnes-Hut for large clusters.
 * Deterministic: a campaign lays out the same way every time. Run in a worker thread
 * (layout-worker.ts): at 2,000 nodes it is seconds of CPU the serving node's event loop must not
 * spend.
 */

export interface LayoutInput {
  /** 'account' or a hub kind, by node index. */
  kinds: string[];
  /** [source index, target index, weight]. */
  edges: Array<[number, number, number]>;
}

/** The package is CommonJS; under NodeNext its default export arrives as the module object (as louvain in abuse/cluster). */
type Fa2 = { assign(graph: UndirectedGraph, params: { iterations: number; getEdgeWeight: string; settings: object }): void; inferSettings(graph: UndirectedGraph): object };
const forceAtlas2: Fa2 = ((m: unknown) => ('assign' in (m as object) ? m : (m as { default: unknown }).default))(forceAtlas2Module) as Fa2;

const ITERATIONS = 80;
/** ForceAtlas2 costs 100 ms or more an iteration at 2,000 nodes on this VM; the grouped start needs few. */
const LARGE_ITERATIONS = 8;
const GOLDEN_ANGLE = 2.399963;

/** x0, y0, x1, y1, ... by node index. */
export function layout(input: LayoutInput): Float64Array {
  const g = new UndirectedGraph();
  const n = input.kinds.length;
  for (let i = 0; i < n; i++) g.addNode(String(i), { kind: input.kinds[i], x: 0, y: 0 });
  for (const [s, t, w] of input.edges) if (!g.hasEdge(String(s), String(t))) g.addEdge(String(s), String(t), { weight: w });
  const hubs = g.filterNodes((_id, a) => a.kind !== 'account');
  hubs.forEach((h, i) => {
    const angle = (2 * Math.PI * i) / Math.max(1, hubs.length);
    g.mergeNodeAttributes(h, { x: 1000 * Math.cos(angle), y: 1000 * Math.sin(angle) });
  });
  const around = new Map<string, number>();
  let loose = 0;
  g.forEachNode((id, a) => {
    if (a.kind !== 'account') return;
    const hub = g.findNeighbor(id, (nb) => g.getNodeAttribute(nb, 'kind') !== 'account');
    const k = hub === undefined ? loose++ : (around.get(hub) ?? 0);
    if (hub !== undefined) around.set(hub, k + 1);
    const r = 20 + 6 * Math.sqrt(k);
    const cx = hub === undefined ? 0 : (g.getNodeAttribute(hub, 'x') as number);
    const cy = hub === undefined ? 0 : (g.getNodeAttribute(hub, 'y') as number);
    g.mergeNodeAttributes(id, { x: cx + r * Math.cos(k * GOLDEN_ANGLE), y: cy + r * Math.sin(k * GOLDEN_ANGLE) });
  });
  if (n > 1) {
    const iterations = n > 1000 ? LARGE_ITERATIONS : ITERATIONS;
    forceAtlas2.assign(g, { iterations, getEdgeWeight: 'weight', settings: { ...forceAtlas2.inferSettings(g), barnesHutOptimize: n > 500 } });
  }
  const out = new Float64Array(2 * n);
  g.forEachNode((id, a) => {
    out[2 * Number(id)] = a.x as number;
    out[2 * Number(id) + 1] = a.y as number;
  });
  return out;
}

/** layout() in a worker thread of its own (one per layout: layouts are rare and then cached). */
export function layoutOffLoop(input: LayoutInput): Promise<Float64Array> {
  if (input.kinds.length < 200) return Promise.resolve(layout(input));
  // Under the TypeScript test runner the worker is a .ts file and needs tsx's loader (as match-pool.ts).
  const worker = import.meta.url.endsWith('.ts')
    ? new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(new URL('./layout-worker.ts', import.meta.url).href)}); });`, { eval: true, workerData: input })
    : new Worker(new URL('./layout-worker.js', import.meta.url), { workerData: input });
  return new Promise((resolve, reject) => {
    worker.once('message', (positions: Float64Array) => {
      resolve(positions);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`layout worker exited (${code})`)));
  });
}

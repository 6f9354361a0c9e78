import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../util/random.js';
import type { Finding } from '../detectors/types.js';
import { clusterAccounts, type ClusterOptions } from './cluster.js';
import { EvidenceGraph } from './graph.js';
import { ReferenceEvidenceGraph, referenceClusterAccounts } from './reference.js';
import { clusterIdOf, scoreClusters } from './score.js';

const opts: ClusterOptions = { strongLink: 0.6, minLink: 0.05, resolution: 1, seed: 1 };
const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);

/** A messy graph: 40 groups of 3-30 wired with random weights, random cross links, isolated accounts. */
function messy(seed: number): EvidenceGraph {
  const rng = new SeededRandom(seed);
  const g = new EvidenceGraph();
  const all: string[] = [];
  for (let c = 0; c < 40; c++) {
    const members = ids(`g${c}`, 3 + rng.int(28));
    all.push(...members);
    g.group(members, 0.2 + 0.7 * rng.float(), 'coordination');
    for (let k = 0; k < members.length; k++) g.link(members[rng.int(members.length)]!, members[rng.int(members.length)]!, 0.3 * rng.float(), 'enumeration');
  }
  for (let k = 0; k < 60; k++) g.link(all[rng.int(all.length)]!, all[rng.int(all.length)]!, 0.05 + 0.1 * rng.float(), 'coordination');
  for (const id of ids('alone', 50)) g.addAccount(id);
  return g;
}

describe('clustering', () => {
  it('is deterministic: the same evidence and seed give the same clusters', () => {
    const a = clusterAccounts(messy(5), opts);
    const b = clusterAccounts(messy(5), opts);
    expect(a.clusters).toEqual(b.clusters);
    expect(a.singletons).toEqual(b.singletons);
    expect(a.clusters.length).toBeGreaterThan(20);
  });

  it('never splits accounts joined by strong links, and cuts weak bridges between dense groups', () => {
    const g = new EvidenceGraph();
    const left = ids('left', 12);
    const right = ids('right', 12);
    for (const side of [left, right]) for (let i = 0; i < side.length; i++) for (let j = i + 1; j < side.length; j++) g.link(side[i]!, side[j]!, 0.5, 'coordination');
    g.link(left[0]!, right[0]!, 0.1, 'coordination');
    // A strong chain through the middle keeps these two together whatever Louvain prefers.
    g.link(left[5]!, 'bridge', 0.9, 'farming');
    g.link('bridge', right[5]!, 0.9, 'farming');
    const { clusters } = clusterAccounts(g, opts);
    const home = (id: string): number => clusters.findIndex((c) => c.includes(id));
    expect(home(left[5]!)).toBe(home(right[5]!));
    expect(home('bridge')).toBe(home(left[5]!));

    const g2 = new EvidenceGraph();
    for (const side of [left, right]) for (let i = 0; i < side.length; i++) for (let j = i + 1; j < side.length; j++) g2.link(side[i]!, side[j]!, 0.5, 'coordination');
    g2.link(left[0]!, right[0]!, 0.1, 'coordination');
    const split = clusterAccounts(g2, opts).clusters.map((c) => [...c].sort());
    expect(split).toEqual(expect.arrayContaining([left, right]));
  });

  it('leaves unlinked accounts and links under the floor as singletons', () => {
    const g = new EvidenceGraph();
    g.addAccount('x');
    g.link('y', 'z', 0.01, 'coordination');
    g.link('p', 'q', 0.5, 'coordination');
    const r = clusterAccounts(g, opts);
    expect(r.clusters).toEqual([['p', 'q']]);
    expect(r.singletons.sort()).toEqual(['x', 'y', 'z']);
  });

  it('wires a group in linear edges and keeps it whole', () => {
    const g = new EvidenceGraph();
    const burst = ids('farm', 300);
    g.group(burst, 0.7, 'farming');
    expect(g.graph.size).toBe(600);
    expect(clusterAccounts(g, opts).clusters.map((c) => [...c].sort())).toEqual([burst]);
  });

  it('combines evidence for a pair noisy-or and remembers which detectors gave it', () => {
    const g = new EvidenceGraph();
    g.link('a', 'b', 0.5, 'coordination');
    g.link('b', 'a', 0.5, 'farming');
    const view = g.graph;
    const attrs = view.getEdgeAttributes(view.edge('a', 'b')!);
    expect(attrs.weight).toBeCloseTo(0.75);
    expect(attrs.detectors).toBe(0b11);
    expect(g.detectors).toEqual(['coordination', 'farming']);
  });
});

describe('clustering on plain arrays against the graphology original (reference.ts)', () => {
  type Op = { kind: 'account'; a: string } | { kind: 'link'; a: string; b: string; w: number; d: string } | { kind: 'group'; ids: string[]; w: number; d: string };

  /**
   * Random evidence: a few dense fleets, weak bridges, weights around both thresholds, pairs given
   * twice (noisy-or), and ids that a plain object orders before the others ("7", "12"): the
   * adjacency order graphology walks components in.
   */
  function randomOps(seed: number): Op[] {
    const rng = new SeededRandom(seed);
    const pool = [...ids('x', 25), ...ids('y', 25), '7', '12', '3', '100', '0', '01', '-1', '4294967295', '42'];
    const pick = (): string => pool[rng.int(pool.length)]!;
    const weight = (): number => [0.05, 0.6, 0.04, 0.59, 1, 0.3][rng.int(6)]! + (rng.float() < 0.5 ? rng.float() * 0.02 : 0);
    const out: Op[] = [];
    for (let k = 0, n = 20 + rng.int(120); k < n; k++) {
      const r = rng.float();
      if (r < 0.1) out.push({ kind: 'account', a: pick() });
      else if (r < 0.8) out.push({ kind: 'link', a: pick(), b: pick(), w: weight(), d: ['coordination', 'farming', 'enumeration'][rng.int(3)]! });
      else out.push({ kind: 'group', ids: Array.from({ length: 1 + rng.int(9) }, pick), w: weight(), d: 'coordination' });
    }
    return out;
  }

  function both(ops: readonly Op[]): [EvidenceGraph, ReferenceEvidenceGraph] {
    const fast = new EvidenceGraph();
    const ref = new ReferenceEvidenceGraph();
    for (const g of [fast, ref]) {
      for (const op of ops) {
        if (op.kind === 'account') g.addAccount(op.a);
        else if (op.kind === 'link') g.link(op.a, op.b, op.w, op.d);
        else g.group(op.ids, op.w, op.d);
      }
    }
    return [fast, ref];
  }

  it('gives the same clusters, members in the same order, on 400 random graphs', () => {
    let clustered = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const [fast, ref] = both(randomOps(seed));
      for (const o of [opts, { ...opts, seed: seed * 7, resolution: 0.5 + (seed % 3) * 0.5 }]) {
        const a = clusterAccounts(fast, o);
        const b = referenceClusterAccounts(ref, o);
        expect(a.clusters, `seed ${seed}`).toEqual(b.clusters);
        expect(a.singletons, `seed ${seed}`).toEqual(b.singletons);
        expect(a.strongComponents, `seed ${seed}`).toBe(b.strongComponents);
        clustered += a.clusters.length;
      }
    }
    expect(clustered).toBeGreaterThan(400);
  });

  it('builds the graph graphology built: nodes, edges, orientation, weights and detectors in order', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const [fast, ref] = both(randomOps(seed));
      const view = fast.graph;
      expect(view.nodes()).toEqual(ref.graph.nodes());
      expect(view.mapEdges((_e, a, s, d) => [s, d, a.weight, a.detectors])).toEqual(ref.graph.mapEdges((_e, a, s, d) => [s, d, a.weight, a.detectors]));
      expect(fast.detectors).toEqual(ref.detectors);
    }
  });
});

describe('cluster scores', () => {
  const f = (detector: string, kind: Finding['kind'], accountIds: string[], score: number, extra: Partial<Finding> = {}): Finding => ({
    detector, kind, accountIds, score, signals: [detector], from: 1000, to: 2000, explanation: `${detector} ${accountIds.join(',')}`, ...extra,
  });
  const weights = { enumeration: 0.8, coordination: 0.75, farming: 0.75 };

  it('weighs each detector by how much of the cluster it covers, and names the detectors present', () => {
    const members = ['a', 'b', 'c', 'd'];
    const findings = [
      f('enumeration', 'account', ['a'], 0.9, { signals: ['dense', 'foreign'] }),
      f('enumeration', 'account', ['b'], 0.9, { signals: ['dense'] }),
      f('coordination', 'group', members, 0.8, { infra: [{ kind: 'device', key: 'dev-1', members: 4 }], from: 500 }),
      f('farming', 'group', ['d'], 0.4),
    ];
    const [c] = scoreClusters([members], findings, { weights, detectorFloor: 0.2 });
    expect(c!.evidence.strengths).toEqual({ enumeration: 0.45, coordination: 0.8, farming: 0.1 });
    expect(c!.evidence.detectors).toEqual(['coordination', 'enumeration']);
    expect(c!.score).toBeCloseTo(1 - (1 - 0.8 * 0.45) * (1 - 0.75 * 0.8) * (1 - 0.75 * 0.1));
    expect(c!.evidence.infrastructure).toEqual([{ kind: 'device', key: 'dev-1', members: 4 }]);
    expect(c!.evidence).toMatchObject({ from: 500, to: 2000, members: 4 });
    expect(c!.evidence.samples[0]).toBe('coordination a,b,c,d');
    expect(c!.members.get('a')).toMatchObject({ score: 0.9, signals: ['dense', 'foreign'] });
    expect(c!.members.get('c')).toMatchObject({ score: 0, signals: [] });
    expect(c!.id).toBe(clusterIdOf(['d', 'c', 'b', 'a']));
  });

  it('lets behaviour summed over the cluster stand for the enumeration detector when members are each below the bar', () => {
    const findings = [f('coordination', 'group', ['a', 'b'], 0.7)];
    const aggregate = (accountIds: readonly string[]): Finding => f('enumeration', 'group', [...accountIds], 0.6);
    const [c] = scoreClusters([['a', 'b']], findings, { weights, detectorFloor: 0.2, aggregate });
    expect(c!.evidence.detectors).toEqual(['coordination', 'enumeration']);
    expect(c!.evidence.strengths.enumeration).toBe(0.6);
  });
});

import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../util/random.js';
import { Clusterer, evidenceOf } from './cluster/clusterer.js';
import { ReferenceEvidenceGraph, referenceClusterAccounts } from './cluster/reference.js';
import type { Finding } from './detectors/types.js';
import { AbuseEngine, type Decision } from './engine.js';
import { DEFAULT_ABUSE_POLICY } from '../policy/index.js';
import type { LookupEvent } from './events.js';
import type { SignupEvent } from './signup.js';
import { HOUR, T0, Traffic, farmScene, importerScene, leakedListScene, merge, organicScene, rangeScanScene, type Scene } from './synthetic.js';

/**
 * Replay equivalence (issue 18 point 3): the engine's evaluation path (evidence graph on plain
 * arrays, clustering replaying graphology's order, the memo of the last graph) decides exactly what
 * the original from-scratch path decides (cluster/reference.ts: graphology, no memo), at every
 * evaluation of the same event sequence: the same accounts, actions, times, cluster ids, scores,
 * reasons and evidence.
 */

type Input = { at: number; lookup?: LookupEvent; signup?: SignupEvent };

function inputsOf(s: Scene): Input[] {
  const out: Input[] = [...s.signups.map((signup) => ({ at: signup.at, signup })), ...s.events.map((lookup) => ({ at: lookup.at, lookup }))];
  // Sign-ups before calls at the same instant, as synthetic.play does; the sort is stable.
  return out.sort((a, b) => a.at - b.at || (a.signup ? 0 : 1) - (b.signup ? 0 : 1));
}

/**
 * Feeds both engines the same inputs and evaluates both as the service paces evaluations (a
 * minute of event time since the last one), plus every 10 minutes through quiet stretches, where
 * only time moves (decay, windows closing). Returns every evaluation's decisions, as JSON.
 */
async function replay(s: Scene, engines: AbuseEngine[]): Promise<{ evaluations: number; decisions: string[][] }> {
  const out: string[][] = engines.map(() => []);
  const inputs = inputsOf(s);
  let last = Number.NEGATIVE_INFINITY;
  let evaluations = 0;
  const evaluate = async (now: number): Promise<void> => {
    last = now;
    evaluations++;
    for (let k = 0; k < engines.length; k++) {
      const ds: Decision[] = await engines[k]!.evaluate(now);
      out[k]!.push(JSON.stringify(ds));
    }
  };
  for (const input of inputs) {
    while (last > Number.NEGATIVE_INFINITY && input.at - last > 10 * 60_000) await evaluate(last + 10 * 60_000);
    for (const e of engines) {
      if (input.signup) e.signup(input.signup);
      else e.observe(input.lookup!);
    }
    if (input.at - last >= 60_000) await evaluate(input.at);
  }
  const end = inputs[inputs.length - 1]!.at + 6 * HOUR;
  while (last < end) await evaluate(last + 10 * 60_000);
  return { evaluations, decisions: out };
}

function scene(seed: number): Scene {
  const t = new Traffic(seed);
  return merge(
    organicScene(t, 2),
    rangeScanScene(t, { accounts: 8 + (seed % 5) * 6, days: 2, callsPerDay: 3 + (seed % 3), outcome: seed % 2 === 0 ? 'allowed' : 'refused' }),
    farmScene(t, 15 + (seed % 4) * 10, T0 + (3 + seed) * HOUR),
    importerScene(t, 1 + (seed % 2)),
    leakedListScene(t, 10, 2),
  );
}

describe('the engine against the from-scratch original (replay equivalence)', () => {
  for (const seed of [3, 8, 21]) {
    it(`decides the same at every evaluation of crafted traffic, seed ${seed}`, async () => {
      const fast = new AbuseEngine();
      const reference = new AbuseEngine({ reference: true });
      const { evaluations, decisions } = await replay(scene(seed), [fast, reference]);
      const [a, b] = decisions as [string[], string[]];
      expect(a.length).toBe(evaluations);
      for (let i = 0; i < evaluations; i++) expect(a[i], `evaluation ${i}`).toBe(b[i]);
      // The crafted fleets are caught: the comparison covers real decisions, and the memo was used.
      const decided = a.reduce((n, json) => n + (JSON.parse(json) as Decision[]).length, 0);
      expect(decided).toBeGreaterThan(5);
      expect(fast.clusteringsReused).toBeGreaterThan(evaluations / 4);
      expect(reference.clusteringsReused).toBe(0);
      // Two engines evaluated a thousand times or so: seconds alone, more on a shared CI machine.
    }, 120_000);
  }
});

describe("the clusterer's memo against clustering from scratch", () => {
  const policy = { ...DEFAULT_ABUSE_POLICY.cluster };

  /**
   * Findings that evolve the way a replay's do, often not at all between evaluations (the memo's
   * case), otherwise a little: a score drifting across strongLink or minLink, a link appearing
   * between accounts already in the graph (same nodes, new edge), one going, two findings swapped.
   */
  function evolve(rng: SeededRandom, prev: Finding[], ids: readonly string[]): Finding[] {
    const next = [...prev];
    const r = rng.float();
    const pick = (): string => ids[rng.int(ids.length)]!;
    const score = (): number => [0.04, 0.05, 0.3, 0.59, 0.6, 0.9][rng.int(6)]!;
    const link = (): Finding => ({ detector: 'coordination', kind: 'link', accountIds: [pick(), pick()], score: score(), signals: [], from: 0, to: 0, explanation: '' });
    if (r < 0.4 || next.length === 0) return next;
    if (r < 0.6) {
      const i = rng.int(next.length);
      next[i] = { ...next[i]!, score: score() };
    } else if (r < 0.75) next.push(link());
    else if (r < 0.85) next.splice(rng.int(next.length), 1);
    else {
      const i = rng.int(next.length);
      const j = rng.int(next.length);
      [next[i], next[j]] = [next[j]!, next[i]!];
    }
    return next;
  }

  it('gives what clustering from scratch gives, step after step, on 60 random histories', { timeout: 120_000 }, () => {
    let reused = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const rng = new SeededRandom(seed);
      const ids = Array.from({ length: 12 + rng.int(20) }, (_, i) => `acct-${String(i).padStart(3, '0')}`);
      let findings: Finding[] = ids.map((id) => ({ detector: 'enumeration', kind: 'account', accountIds: [id], score: 0.7, signals: [], from: 0, to: 0, explanation: '' }));
      const clusterer = new Clusterer(policy, false);
      for (let step = 0; step < 80; step++) {
        findings = evolve(rng, findings, ids);
        const graph = new ReferenceEvidenceGraph();
        evidenceOf(graph, findings, policy.minLink);
        const expected = referenceClusterAccounts(graph, policy);
        const got = clusterer.cluster(findings);
        expect(got.clusters, `seed ${seed} step ${step}`).toEqual(expected.clusters);
        expect(got.singletons, `seed ${seed} step ${step}`).toEqual(expected.singletons);
      }
      reused += clusterer.reused;
    }
    expect(reused).toBeGreaterThan(60 * 20);
  });
});

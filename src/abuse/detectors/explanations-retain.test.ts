import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { compileAbusePolicy, DEFAULT_ABUSE_POLICY } from '../../policy/index.js';
import { scoreClusters } from '../cluster/score.js';
import { AbuseEngine } from '../engine.js';
import { DAY, T0, Traffic, organicScene, play, rangeScanScene, merge } from '../synthetic.js';
import { assessBehaviour, behaviourFinding, describe as describeAssessment, ENUMERATION, EnumerationDetector, sumBehaviour, type Behaviour } from './enumeration.js';
import { explainedLater, type Finding } from './types.js';

/**
 * Explanations are written when read, from what a finding kept: only the numbers and short
 * strings of its sentence. A finding lives until the next evaluation (a decision's evidence
 * longer), so whatever it holds lives as long: in twitter-2019 the lazily written findings and
 * the cluster samples' hold on every finding doubled the simulator's peak memory (353a671).
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Whether the object behind `ref` is gone after a full collection (a WeakRef holds its target until the job ends). */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  await new Promise((r) => setTimeout(r, 0));
  gc();
  return ref.deref() === undefined;
}

const policy = compileAbusePolicy(DEFAULT_ABUSE_POLICY);

function scan(members: number): Behaviour {
  const parts: Behaviour[] = [];
  for (let m = 0; m < members; m++) {
    const blocks = new Set<string>();
    for (let k = 0; k < 40; k++) blocks.add(`+4915${String(m * 40 + k).padStart(6, '0')}`);
    parts.push({
      members: 1, newShort: 900, newDay: 2000, asked: 4000, askedNew: 4000, foreign: 3900, answered: 3000, matched: 30, denseNumbers: 3800, denseCalls: 40,
      calls: 45, hostingCalls: 45, newMembers: 1, bestRun: 12, runFrom: '+4915000', runTo: '+4915011', denseBlocks: blocks,
      maxCountries: 5, maxIps: 14, ownCodes: new Set([`+${98 + (m % 2)}`]),
    });
  }
  return members === 1 ? parts[0]! : sumBehaviour(parts);
}

describe('what a finding keeps for its explanation', () => {
  it("keeps a behaviour's numbers, not its sets, and writes the sentence the behaviour gives", async () => {
    for (const members of [1, 30]) {
      const b = scan(members);
      const a = assessBehaviour(b, 0.09, policy, policy.features.shortWindowMs);
      expect(a.signals.map((s) => s.name)).toContain(members > 1 ? 'split-range' : 'run');
      const expected = describeAssessment(`${members} accounts`, a);
      const blocks = new WeakRef(b.denseBlocks);
      const codes = new WeakRef(b.ownCodes);
      const f = behaviourFinding({ detector: ENUMERATION, kind: 'group', accountIds: ['a'], score: a.score, signals: [], from: 0, to: 0 }, `${members} accounts`, b, 0.09, policy, policy.features.shortWindowMs);
      b.denseBlocks = new Set();
      b.ownCodes = new Set();
      expect(await collected(blocks)).toBe(true);
      expect(await collected(codes)).toBe(true);
      expect(f.explanation).toBe(expected);
    }
  });

  it("lets go of a cluster's findings once scored: its evidence carries the samples as text", async () => {
    const refs: WeakRef<Finding>[] = [];
    const make = (i: number): Finding => {
      const f = explainedLater({ detector: 'coordination', kind: 'group', accountIds: ['a', 'b', 'c'], score: 0.5 + i / 100, signals: ['shared-ip'], from: 0, to: 1 }, () => `key ${i}`);
      refs.push(new WeakRef(f));
      return f;
    };
    const [cluster] = scoreClusters([['a', 'b', 'c']], [0, 1, 2, 3, 4, 5, 6].map(make), { weights: { coordination: 1 }, detectorFloor: 0.1 });
    const evidence = cluster!.evidence;
    expect(evidence.samples).toEqual(['key 6', 'key 5', 'key 4', 'key 3', 'key 2']);
    for (const ref of refs) expect(await collected(ref)).toBe(true);
    expect(JSON.parse(JSON.stringify(evidence)).samples).toEqual(['key 6', 'key 5', 'key 4', 'key 3', 'key 2']);
  });

  it('is an own enumerable explanation, in JSON and spreads, keys in the order they always had', () => {
    let calls = 0;
    const f = explainedLater({ detector: 'farming', kind: 'group', accountIds: ['a'], score: 0.4, signals: ['x'], infra: [{ kind: 'ip', key: '10.0.0.1', members: 3 }], from: 1, to: 2 }, () => `text ${++calls}`);
    const g = explainedLater({ detector: 'farming', kind: 'group', accountIds: ['a'], score: 0.4, signals: ['x'], from: 1, to: 2 }, () => 'other');
    expect(Object.keys(f)).toEqual(['detector', 'kind', 'accountIds', 'score', 'signals', 'infra', 'from', 'to', 'explanation']);
    expect(Object.keys(g)).toEqual(['detector', 'kind', 'accountIds', 'score', 'signals', 'from', 'to', 'explanation']);
    expect('infra' in g).toBe(false);
    expect(JSON.parse(JSON.stringify(f)).explanation).toBe('text 1');
    expect({ ...f }.explanation).toBe('text 1');
    expect(f.explanation).toBe('text 1');
    expect(calls).toBe(1);
  });
});

describe("the enumeration detector's memo", () => {
  it('lets go of accounts it no longer scores', () => {
    const t = new Traffic(7);
    const scene = merge(rangeScanScene(t, { accounts: 4, days: 1, callsPerDay: 20, slice: 20_000, batch: 1000 }), organicScene(t, 1));
    const engine = new AbuseEngine();
    play(scene, engine, T0 + DAY);
    const det = engine.detectors.find((d) => d.name === ENUMERATION) as EnumerationDetector;
    const accs = scene.accounts.map((id) => engine.store.account(id)).filter((a) => a !== undefined);
    for (const acc of accs) det.score(acc, T0 + DAY);
    expect(det.memoSize).toBe(accs.length);
    // Each instant is a generation; an account not scored for 64 of them is let go.
    for (let g = 1; g <= 130; g++) det.score(accs[0]!, T0 + DAY + g);
    expect(det.memoSize).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { AbuseEngine } from '../engine.js';
import { DAY, HOUR, T0, Traffic, farmScene, importerScene, leakedListScene, merge, organicScene, play, rangeScanScene } from '../synthetic.js';
import { assessBehaviour, behaviourOf, completeBehaviour, describe as describeAssessment, EnumerationDetector, ENUMERATION, sumBehaviour } from './enumeration.js';

/**
 * The evaluation's shortcuts must not change a number: the light behaviour and its score, the
 * memo shared by the detectors, the cluster sum built from it, and explanations written when read.
 */
describe('enumeration without texts, memoised per evaluation', () => {
  const t = new Traffic(31);
  const scene = merge(
    rangeScanScene(t, { accounts: 6, days: 1, callsPerDay: 30, slice: 30_000, batch: 1000 }),
    importerScene(t),
    leakedListScene(t, 5, 2),
    farmScene(t, 20),
    organicScene(t, 2),
  );

  it('gives every account the score, signals and sums the full computation gives', () => {
    const engine = new AbuseEngine();
    for (const now of [T0 + HOUR, T0 + DAY, T0 + 2 * DAY + 7 * 60_000]) {
      play(scene, engine, now);
      const det = engine.detectors.find((d) => d.name === ENUMERATION) as EnumerationDetector;
      const accs = scene.accounts.map((id) => engine.store.account(id)).filter((a) => a !== undefined);
      expect(accs.length).toBeGreaterThan(10);
      const rate = engine.store.populationHitRate(now);
      const shortMs = engine.store.policy.shortWindowMs;
      let scored = 0;
      for (const acc of accs) {
        const full = assessBehaviour(behaviourOf(engine.store, acc, now), rate, engine.policy, shortMs);
        const light = assessBehaviour(behaviourOf(engine.store, acc, now, false), rate, engine.policy, shortMs, false);
        expect(det.score(acc, now)).toBe(full.score);
        const b = behaviourOf(engine.store, acc, now);
        expect(det.hostingShare(acc, now)).toBe(b.calls > 0 ? b.hostingCalls / b.calls : 0);
        expect(light.score).toBe(full.score);
        expect(light.signals.map((s) => s.name)).toEqual(full.signals.map((s) => s.name));
        expect(completeBehaviour(engine.store, acc, now, behaviourOf(engine.store, acc, now, false))).toEqual(behaviourOf(engine.store, acc, now));
        if (full.score > 0) scored++;
      }
      expect(scored).toBeGreaterThan(0);
      const sum = det.behaviourSum(accs, now)!;
      expect(sum).toEqual(sumBehaviour(accs.map((acc) => behaviourOf(engine.store, acc, now))));
      // The lazily written explanation is the eager one.
      for (const f of det.findings(now)) {
        const acc = engine.store.account(f.accountIds[0]!)!;
        expect(f.explanation).toBe(describeAssessment(`account ${acc.id}`, assessBehaviour(behaviourOf(engine.store, acc, now), rate, engine.policy, shortMs)));
      }
    }
  });

  it('forgets the memo when an event arrives at the same instant', () => {
    const engine = new AbuseEngine();
    const at = T0 + DAY;
    play(scene, engine, at);
    const det = engine.detectors.find((d) => d.name === ENUMERATION) as EnumerationDetector;
    const later = scene.events.filter((e) => e.at > at).slice(0, 200);
    const ids = [...new Set(later.map((e) => e.accountId))].filter((id) => engine.store.account(id));
    for (const id of ids) det.score(engine.store.account(id)!, at + DAY);
    for (const e of later) engine.observe({ ...e, at: at + DAY - 1 });
    const rate = engine.store.populationHitRate(at + DAY);
    for (const id of ids) {
      const acc = engine.store.account(id)!;
      expect(det.score(acc, at + DAY)).toBe(assessBehaviour(behaviourOf(engine.store, acc, at + DAY), rate, engine.policy, engine.store.policy.shortWindowMs).score);
    }
  });
});

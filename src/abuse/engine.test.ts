import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../incidents/common.js';
import type { SignupHold } from '../incidents/decisions.js';
import type { ClusterEvidence } from './cluster/score.js';
import { realtimeCheck } from './detectors/realtime.js';
import { AbuseEngine, type Decision, type Enforcer } from './engine.js';
import { DEFAULT_ABUSE_POLICY } from '../policy/index.js';
import { DAY, HOUR, T0, Traffic, US_BLOCKS, fake, farmScene, importerScene, leakedListScene, merge, organicScene, play, rangeScanScene, type Scene } from './synthetic.js';

/** An enforcer that records what it was asked, and can be told to fail. */
class RecordingEnforcer implements Enforcer {
  readonly calls: Array<{ action: string; ids: readonly string[]; reason?: string; evidence?: ClusterEvidence; holds?: SignupHold[] }> = [];
  failNext = 0;

  private record(action: string, ids: readonly string[], reason?: string, evidence?: ClusterEvidence, holds?: SignupHold[]): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new Error('directory unavailable'));
    }
    this.calls.push({ action, ids, ...(reason !== undefined ? { reason } : {}), ...(evidence ? { evidence } : {}), ...(holds ? { holds } : {}) });
    return Promise.resolve();
  }
  throttle(ids: readonly string[]): Promise<void> {
    return this.record('throttle', ids);
  }
  challenge(ids: readonly string[]): Promise<void> {
    return this.record('challenge', ids);
  }
  suspend(ids: readonly string[], reason: string, evidence: ClusterEvidence, decision?: Decision): Promise<void> {
    return this.record('suspend', ids, reason, evidence, decision?.holds);
  }
  accounts(action: string): string[] {
    return this.calls.filter((c) => c.action === action).flatMap((c) => [...c.ids]);
  }
}

function upTo(s: Scene, now: number): Scene {
  return { ...s, events: s.events.filter((e) => e.at <= now), signups: s.signups.filter((e) => e.at <= now) };
}

const acted = (ds: Decision[]): Set<string> => new Set(ds.flatMap((d) => d.accountIds));

describe('AbuseEngine', () => {
  const t = new Traffic(61);
  const organic = organicScene(t, 3);
  const fleet = rangeScanScene(t, { accounts: 30, days: 3, callsPerDay: 4, outcome: 'refused' });
  const farm = farmScene(t, 40);
  const importer = importerScene(t);
  const all = merge(organic, fleet, farm, importer);

  it('suspends the fleet, the farm and the importers, and nobody else', async () => {
    const enforcer = new RecordingEnforcer();
    const engine = new AbuseEngine({ enforcer });
    play(all, engine);
    const decisions = await engine.evaluate(T0 + 3 * DAY);
    const suspended = new Set(enforcer.accounts('suspend'));
    for (const id of [...fleet.accounts, ...farm.accounts, ...importer.accounts]) expect(suspended.has(id), id).toBe(true);
    for (const id of organic.accounts) expect(acted(decisions).has(id), id).toBe(false);
    const fleetDecision = decisions.find((d) => d.accountIds.includes('fake-00000'))!;
    expect(fleetDecision).toMatchObject({ action: 'suspend-cluster', applied: true });
    expect(fleetDecision.accountIds).toHaveLength(30);
    expect(fleetDecision.evidence.detectors).toEqual(expect.arrayContaining(['coordination', 'enumeration']));
    expect(fleetDecision.evidence.samples.length).toBeGreaterThan(1);
    expect(fleetDecision.reason).toMatch(/^cluster c-[0-9a-f]{8} of 30 accounts: .*\(score 0\.\d\d\); /);
    expect(decisions.find((d) => d.accountIds.includes('importer-0'))).toMatchObject({ action: 'suspend-account' });
    // Evidence goes into a JSON column and a webhook as it is.
    const json: JsonValue = fleetDecision.evidence;
    expect(JSON.parse(JSON.stringify(json))).toEqual(fleetDecision.evidence);
    expect(fleetDecision.evidence.clusterId).toBe(fleetDecision.clusterId);
  });

  it("a suspension holds new sign-ups on the devices and hosting addresses its accounts used, never on a residential address", async () => {
    const enforcer = new RecordingEnforcer();
    const engine = new AbuseEngine({ enforcer });
    play(all, engine);
    // One farm account also called once from home: a carrier address that strangers share.
    const home = { ...fake(0, T0 + 5 * HOUR, { accountId: 'farm-0000', deviceId: 'farm2-dev-0' }), ip: '81.2.69.160', subnet: '81.2.69.0/24', asn: 2856, country: 'GB', network: 'other' as const };
    engine.observe(new Traffic(62).call(home, T0 + 6 * HOUR, ['+14155550100'], { outcome: 'refused' }));
    const decisions = await engine.evaluate(T0 + 3 * DAY);
    const farm = decisions.find((d) => d.accountIds.includes('farm-0000'))!;
    expect(farm.action).toBe('suspend-cluster');
    const holds = farm.holds!;
    expect(holds).toContainEqual({ accountId: 'farm-0000', scope: 'device', subject: 'farm2-dev-0' });
    expect(holds).toContainEqual({ accountId: 'farm-0000', scope: 'ip', subject: '198.51.100.10' });
    expect(holds.filter((h) => h.subject === '81.2.69.160')).toEqual([]);
    // Every hold is one of the suspended accounts' own.
    expect(holds.every((h) => farm.accountIds.includes(h.accountId))).toBe(true);
    // The enforcer is handed them with the suspension, to record where every node enforces them.
    expect(enforcer.calls.find((c) => c.action === 'suspend' && c.ids.includes('farm-0000'))!.holds).toEqual(holds);
    // A throttle or challenge holds nothing.
    expect(decisions.filter((d) => !d.action.startsWith('suspend')).every((d) => d.holds === undefined)).toBe(true);
  });

  it('is idempotent: deciding again on the same clusters takes no second action', async () => {
    const enforcer = new RecordingEnforcer();
    const engine = new AbuseEngine({ enforcer });
    play(all, engine);
    const first = await engine.evaluate(T0 + 3 * DAY);
    const calls = enforcer.calls.length;
    expect(first.length).toBeGreaterThan(0);
    expect(await engine.evaluate(T0 + 3 * DAY)).toEqual([]);
    expect(await engine.evaluate(T0 + 3 * DAY + HOUR)).toEqual([]);
    // Redelivered events change nothing either.
    await engine.handle(all.events.slice(-500));
    expect(await engine.evaluate(T0 + 3 * DAY + 2 * HOUR)).toEqual([]);
    expect(enforcer.calls.length).toBe(calls);
    // A newcomer to a suspended cluster is suspended on its own, under the cluster's id.
    const late = fake(30, T0 + 2 * DAY);
    const firstFleet = first.find((d) => d.accountIds.includes('fake-00000'))!;
    engine.signup(t.signup(late));
    for (let d = 0; d < 3; d++) engine.observe(t.call(late, T0 + 3 * DAY + 3 * HOUR + d * 600_000, t.randomNumbers(US_BLOCKS, 50), { outcome: 'refused' }));
    const again = await engine.evaluate(T0 + 3 * DAY + 4 * HOUR);
    const newcomer = again.filter((d) => d.accountIds.includes(late.accountId));
    expect(newcomer.map((d) => [d.action, d.accountIds])).toEqual([['suspend-cluster', [late.accountId]]]);
    expect(newcomer[0]!.clusterId).toBe(firstFleet.clusterId);
  });

  it('leaked-list accounts are challenged once their devices tie them together, never on one weak signal', async () => {
    const tl = new Traffic(62);
    const leak = leakedListScene(tl);
    const scene = merge(organicScene(tl, 10), leak);
    const engine = new AbuseEngine();
    play(scene, engine);
    const decisions = await engine.evaluate(T0 + 10 * DAY);
    const leakIds = new Set(leak.accounts);
    expect(decisions.every((d) => d.accountIds.every((id) => leakIds.has(id)))).toBe(true);
    const levels = decisions.filter((d) => d.action !== 'throttle').flatMap((d) => d.accountIds);
    expect(new Set(levels).size).toBe(leak.accounts.length);
    expect(decisions.find((d) => d.accountIds.length > 1)!.evidence.samples.join(' ')).toContain('from 3 countries');
  });

  it('new accounts on a hosting address acting together but asking nothing unusual are at most challenged', async () => {
    const tv = new Traffic(63);
    const engine = new AbuseEngine();
    // Ten people behind one VPN exit, each looking a friend up in the same evening hour for three days.
    for (let d = 0; d < 3; d++) {
      for (let i = 0; i < 10; i++) {
        const p = fake(100 + i, T0 - DAY, { phoneRegion: 'US', deviceId: `own-${i}`, ip: '203.0.113.99' });
        engine.observe(tv.call(p, T0 + d * DAY + 20 * HOUR + i * 60_000, tv.randomNumbers(US_BLOCKS, 1)));
      }
    }
    const decisions = await engine.evaluate(T0 + 3 * DAY);
    expect(decisions.filter((d) => d.action.startsWith('suspend'))).toEqual([]);
  });

  it('in shadow mode decides and reports but enforces nothing, once', async () => {
    const enforcer = new RecordingEnforcer();
    const engine = new AbuseEngine({ enforcer, policy: { ...DEFAULT_ABUSE_POLICY, mode: 'shadow' } });
    play(all, engine);
    const decisions = await engine.evaluate(T0 + 3 * DAY);
    expect(decisions.length).toBeGreaterThan(0);
    expect(decisions.every((d) => !d.applied)).toBe(true);
    expect(enforcer.calls).toEqual([]);
    expect(await engine.evaluate(T0 + 3 * DAY)).toEqual([]);
  });

  it('retries a decision the enforcer failed to carry out', async () => {
    const enforcer = new RecordingEnforcer();
    const engine = new AbuseEngine({ enforcer });
    play(upTo(merge(organic, importer), T0 + HOUR), engine);
    enforcer.failNext = 1;
    const first = await engine.evaluate(T0 + HOUR);
    const failed = first.filter((d) => d.error !== undefined);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ applied: false, error: 'directory unavailable' });
    const second = await engine.evaluate(T0 + HOUR + 60_000);
    expect(second.map((d) => d.accountIds)).toEqual([failed[0]!.accountIds]);
    expect(second[0]!.applied).toBe(true);
  });

  it('tells the request path who is suspended, and lets an operator reinstate for a grace period', async () => {
    const engine = new AbuseEngine();
    play(upTo(merge(organic, importer), T0 + HOUR), engine);
    await engine.evaluate(T0 + HOUR);
    const now = T0 + HOUR + 1;
    expect(engine.callerState('importer-0', now)).toMatchObject({ action: 'suspend-account' });
    expect(engine.callerState('person-00001', now)).toBeUndefined();
    expect(realtimeCheck([`${US_BLOCKS[0]}0001`], engine.callerState('importer-0', now), DEFAULT_ABUSE_POLICY.realtime).verdict).toBe('deny');
    engine.reinstate('importer-0', now);
    expect(engine.callerState('importer-0', now)).toBeUndefined();
    // The operator judged it organic: the same evidence acts on it no more (the limits still do) until the grace ends.
    const after = await engine.evaluate(now + 60_000);
    expect(after.filter((d) => d.accountIds.includes('importer-0'))).toEqual([]);
  });

  it('takes detectors from a factory: a new one plugs in without touching the engine', async () => {
    const seen: string[] = [];
    const engine = new AbuseEngine({
      detectors: (_ctx, defaults) => [
        ...defaults,
        {
          name: 'watchlist',
          observe: (obs) => {
            if (obs.type === 'lookup' && obs.event.ip === '192.0.2.66') seen.push(obs.event.accountId);
          },
          findings: (now) =>
            [...new Set(seen)].map((id) => ({ detector: 'watchlist', kind: 'account' as const, accountIds: [id], score: 0.6, signals: ['watchlist'], from: now, to: now, explanation: `${id} used a listed address` })),
        },
      ],
    });
    const p = fake(7, T0 - 30 * DAY, { ip: '192.0.2.66', network: 'other' });
    engine.observe(t.call(p, T0, t.randomNumbers(US_BLOCKS, 1)));
    const decisions = await engine.evaluate(T0 + 1);
    expect(decisions.map((d) => [d.action, d.accountIds, d.reason])).toEqual([['challenge', [p.accountId], `account ${p.accountId}: ${p.accountId} used a listed address (score 0.60)`]]);
  });
});

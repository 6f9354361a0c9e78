import { describe, expect, it } from 'vitest';
import { AbuseEngine } from '../engine.js';
import { compileAbusePolicy, DEFAULT_ABUSE_POLICY } from '../../policy/index.js';
import { FeatureStore } from '../features/store.js';
import { DAY, HOUR, T0, Traffic, US_BLOCKS, leakedListScene, merge, organicScene, person, play, rangeScanScene, type Scene } from '../synthetic.js';
import { COORDINATION, CoordinationDetector } from './coordination.js';
import type { Finding } from './types.js';

function findings(scene: Scene, now: number): Finding[] {
  const engine = new AbuseEngine();
  play(scene, engine, now);
  return engine.detectors.find((d) => d.name === COORDINATION)!.findings(now);
}

const touches = (fs: Finding[], ids: Set<string>): Finding[] => fs.filter((f) => f.accountIds.some((id) => ids.has(id)));

describe('coordination detector', () => {
  it('links fake accounts acting in step on shared addresses, devices and adjacent blocks, and nobody else', () => {
    const t = new Traffic(21);
    const fleet = rangeScanScene(t, { accounts: 30, days: 3, callsPerDay: 4, outcome: 'refused' });
    const organic = organicScene(t, 3);
    const fs = findings(merge(fleet, organic), T0 + 3 * DAY);
    const links = fs.filter((f) => f.kind === 'link');
    const groups = fs.filter((f) => f.kind === 'group');
    // Accounts 0, 4, 8, ... share 203.0.113.10 and acted in the same hour three days running.
    const ipLink = links.find((f) => f.accountIds.join() === 'fake-00000,fake-00004')!;
    expect(ipLink.signals.some((s) => s.startsWith('in-step-'))).toBe(true);
    expect(ipLink.score).toBeGreaterThan(0.6);
    expect(ipLink.explanation).toMatch(/^accounts fake-00000 and fake-00004 acted on the same \w+ in 3 of the same 1h buckets within 3d \(Jaccard 1\.00/);
    const device = groups.find((f) => f.infra?.[0]?.key === 'farm-dev-0')!;
    expect([...device.accountIds].sort()).toEqual(['fake-00000', 'fake-00001', 'fake-00002', 'fake-00003', 'fake-00004']);
    expect(device.score).toBeGreaterThan(0.6);
    const address = groups.find((f) => f.infra?.[0]?.key === '203.0.113.10')!;
    expect(address.explanation).toMatch(/^ip 203\.0\.113\.10 is shared by 8 accounts over .*8 of 8 tracked suspicious \(100% of its calls from new accounts, 100% from hosting networks, 8 sign-ups\)/);
    expect(touches(fs, new Set(organic.accounts))).toEqual([]);
  });

  it('does not link ordinary people: a family phone used together every evening, 300 people behind one NAT address', () => {
    const t = new Traffic(22);
    const organic = organicScene(t, 3);
    expect(findings(organic, T0 + 3 * DAY)).toEqual([]);
  });

  it('groups a device used by aged accounts in three countries that all work through a list', () => {
    const t = new Traffic(23);
    const fs = findings(merge(leakedListScene(t), organicScene(t, 10)), T0 + 10 * DAY);
    const device = fs.find((f) => f.kind === 'group' && f.infra?.[0]?.key === 'leak-dev-0')!;
    expect(device.accountIds).toHaveLength(5);
    expect(device.explanation).toContain('from 3 countries');
    expect(device.score).toBeGreaterThan(0.6);
  });

  it('scales: an object shared by more than maxKeyMembers accounts in a bucket makes no pairs', () => {
    const policy = compileAbusePolicy({ ...DEFAULT_ABUSE_POLICY, coordination: { ...DEFAULT_ABUSE_POLICY.coordination, maxKeyMembers: 50 } });
    const store = new FeatureStore(policy);
    const det = new CoordinationDetector(store, policy, () => 1);
    const t = new Traffic(24);
    for (let d = 0; d < 3; d++) {
      for (let i = 0; i < 400; i++) {
        // Everyone on one carrier ASN, each on its own address, device and block.
        const p = person(i, { ip: `100.70.${i >> 8}.${i & 255}`, subnet: `100.70.${i >> 8}.${i & 255}/32` });
        const e = t.call(p, T0 + d * DAY + HOUR + i * 1000, [`${US_BLOCKS[0]!.slice(0, -3)}${String(100 + (i % 400)).padStart(3, '0')}0000`]);
        det.observe({ type: 'lookup', event: e, facts: store.observeLookup(e) });
      }
    }
    expect(det.findings(T0 + 3 * DAY)).toEqual([]);
    expect(det.pairCount).toBe(0);
  });

  it('forgets pairs that fell out of the window', () => {
    const t = new Traffic(25);
    const fleet = rangeScanScene(t, { accounts: 10, days: 3, callsPerDay: 2, outcome: 'refused' });
    const engine = new AbuseEngine();
    play(fleet, engine);
    const det = engine.detectors.find((d) => d.name === COORDINATION) as CoordinationDetector;
    expect(det.findings(T0 + 3 * DAY).some((f) => f.kind === 'link')).toBe(true);
    det.findings(T0 + 7 * DAY);
    expect(det.pairCount).toBe(0);
  });
});

describe('coordination groups: stopping early', () => {
  // groupFinding stops reading members once the bars are out of reach; the findings must be those of
  // reading every member, for every mix of suspicion, including shares on the bar (3 of 5 = 0.6).
  it('finds the groups a full read of every member finds, over random keys and suspicions', () => {
    const policy = compileAbusePolicy(DEFAULT_ABUSE_POLICY);
    const c = policy.coordination;
    const levels = [-1, 0, 0.1, 0.39, 0.4, 0.5, 0.9];
    let positives = 0;
    for (let round = 0; round < 40; round++) {
      const t = new Traffic(100 + round);
      const store = new FeatureStore(policy);
      const susp = new Map<string, number>();
      const det = new CoordinationDetector(store, policy, (acc) => susp.get(acc.id) ?? 0);
      const keys: string[] = [];
      for (let k = 0; k < 30; k++) {
        const device = `dev-${k}`;
        keys.push(device);
        const n = 1 + t.rng.int(4 * c.rareMembers);
        for (let i = 0; i < n; i++) {
          const id = `acc-${t.rng.int(200)}`;
          const p = person(Number(id.slice(4)), { accountId: id, deviceId: device, ip: `198.51.100.${k}`, subnet: `198.51.100.${k}/32` });
          const e = t.call(p, T0 + HOUR + k * 60_000 + i * 1000, t.randomNumbers(US_BLOCKS, 2));
          det.observe({ type: 'lookup', event: e, facts: store.observeLookup(e) });
        }
      }
      for (let i = 0; i < 200; i++) susp.set(`acc-${i}`, levels[t.rng.int(levels.length)]!);
      const now = T0 + 2 * HOUR;
      const got = det
        .findings(now)
        .filter((f) => f.kind === 'group' && f.infra?.[0]?.kind === 'device')
        .map((f) => `${f.infra![0]!.key}: ${[...f.accountIds].sort().join(' ')}`)
        .sort();
      // The bars read in full: members the suspicion knows (-1 stands for one the store forgot).
      const want = keys
        .flatMap((key) => {
          const st = store.infra('device', key);
          if (!st || st.memberCount < c.groupMinMembers) return [];
          const known = [...st.members.keys()].filter((id) => (susp.get(id) ?? 0) >= 0);
          const flagged = known.filter((id) => susp.get(id)! >= 0.4);
          if (known.length === 0 || flagged.length < c.groupMinMembers || flagged.length / known.length < c.groupMinSuspiciousShare) return [];
          return [`${key}: ${flagged.sort().join(' ')}`];
        })
        .sort();
      expect(got).toEqual(want);
      positives += want.length;
    }
    expect(positives).toBeGreaterThan(20);
  });
});

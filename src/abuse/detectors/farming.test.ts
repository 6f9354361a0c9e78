import { describe, expect, it } from 'vitest';
import { AbuseEngine } from '../engine.js';
import { DAY, HOUR, T0, Traffic, farmScene, merge, organicScene, person, play, type Scene } from '../synthetic.js';
import { FARMING } from './farming.js';
import type { Finding } from './types.js';

function findings(scene: Scene, now: number): Finding[] {
  const engine = new AbuseEngine();
  play(scene, engine, now);
  return engine.detectors.find((d) => d.name === FARMING)!.findings(now);
}

describe('farming detector', () => {
  it('finds a burst of sign-ups from three hosting addresses in one /24 within ten minutes', () => {
    const t = new Traffic(31);
    const farm = farmScene(t, 40);
    const organic = organicScene(t, 1);
    const fs = findings(merge(farm, organic), T0 + DAY);
    const subnet = fs.find((f) => f.signals[0] === 'signup-burst-subnet')!;
    expect(subnet.accountIds).toHaveLength(40);
    expect(subnet.score).toBeGreaterThan(0.8);
    expect(subnet.explanation).toMatch(/^40 accounts signed up from subnet 198\.51\.100\.0\/24 in bursts of up to \d+ within 15m \(usually 0\.00\); 100% from hosting networks/);
    for (const ip of ['198.51.100.10', '198.51.100.11', '198.51.100.12']) expect(fs.some((f) => f.infra?.[0]?.key === ip)).toBe(true);
    const farmIds = new Set(farm.accounts);
    for (const f of fs) expect(f.accountIds.every((id) => farmIds.has(id))).toBe(true);
  });

  it('without sign-up events, the first calls right after creation stand in for them', () => {
    const t = new Traffic(32);
    const fs = findings(farmScene(t, 40, T0 + 5 * HOUR, false), T0 + DAY);
    expect(fs.find((f) => f.signals[0] === 'signup-burst-subnet')?.accountIds).toHaveLength(40);
  });

  it('does not see a burst in ordinary sign-ups: a carrier-NAT address over a day, a family joining over weeks', () => {
    const t = new Traffic(33);
    const organic = organicScene(t, 3);
    const family = [0, 1, 2].map((i) => person(4000 + i, { deviceId: 'family-tablet', ip: '100.64.9.9', subnet: '100.64.9.0/24', createdAt: T0 + i * 9 * DAY }));
    const scene = merge(organic, { events: [], signups: family.map((p) => t.signup(p)), accounts: family.map((p) => p.accountId) });
    expect(findings(scene, T0 + 20 * DAY)).toEqual([]);
  });

  it('learns what a busy carrier network usually sees: 30 sign-ups every 15 minutes is normal there, 200 is not', () => {
    const t = new Traffic(34);
    const signups = [];
    const carrier = (i: number, at: number) => person(10_000 + i, { ip: `100.80.${(i >> 8) & 255}.${i & 255}`, subnet: `100.80.${(i >> 8) & 255}.0/24`, asn: 7922, createdAt: at });
    let n = 0;
    for (let w = 0; w < 8 * 24 * 4; w++) for (let k = 0; k < 30; k++) signups.push(t.signup(carrier(n++, T0 + w * 15 * 60_000 + k * 30_000)));
    expect(findings({ events: [], signups, accounts: [] }, T0 + 8 * DAY)).toEqual([]);
    for (let k = 0; k < 200; k++) signups.push(t.signup(carrier(n++, T0 + 8 * DAY + k * 4000)));
    const fs = findings({ events: [], signups, accounts: [] }, T0 + 8 * DAY + HOUR);
    expect(fs.map((f) => f.signals[0])).toEqual(['signup-burst-asn']);
    expect(fs[0]!.explanation).toMatch(/in bursts of up to \d+ within 15m \(usually (29|30|31)\.\d\d\); 0% from hosting networks/);
  });

  it('a launch behind a fresh carrier address is a finding too weak to act on alone; once the address has a day of history, a burst counts in full', async () => {
    const t = new Traffic(36);
    const onCarrier = (i: number, at: number) => person(20_000 + i, { ip: '189.180.171.136', subnet: '189.180.171.0/24', asn: 8151, country: 'MX', phoneRegion: 'MX', createdAt: at });
    // Launch hour: 60 people join through one carrier NAT address findguard has never seen.
    const launch = Array.from({ length: 60 }, (_, i) => t.signup(onCarrier(i, T0 + i * 60_000)));
    const engine = new AbuseEngine();
    play({ events: [], signups: launch, accounts: [] }, engine);
    const cold = engine.detectors.find((d) => d.name === FARMING)!.findings(T0 + HOUR);
    expect(cold).toHaveLength(1);
    expect(cold[0]!.signals).toEqual(['signup-burst-ip']);
    expect(cold[0]!.explanation).toMatch(/less than a day of history \(carrier NAT\), so not enough alone to act on$/);
    const p = engine.policy;
    expect(cold[0]!.score * p.cluster.weights[FARMING]!).toBeLessThan(p.actions.throttle.score);
    expect(await engine.evaluate(T0 + HOUR)).toEqual([]);
    // A day later the same address has a baseline of ~60 a day; 200 within minutes is five times that.
    const burst = Array.from({ length: 200 }, (_, i) => t.signup(onCarrier(100 + i, T0 + 2 * DAY + i * 4000)));
    play({ events: [], signups: burst, accounts: [] }, engine);
    const later = engine.detectors.find((d) => d.name === FARMING)!.findings(T0 + 2 * DAY + HOUR).filter((f) => f.signals[0] === 'signup-burst-ip');
    expect(later).toHaveLength(2);
    const warm = later.filter((f) => !/not enough alone/.test(f.explanation));
    expect(warm).toHaveLength(1);
    expect(warm[0]!.score * p.cluster.weights[FARMING]!).toBeGreaterThanOrEqual(p.actions.throttle.score);
    // The launch's accounts are not in it: the later burst lends them none of its weight.
    const launched = new Set(launch.map((x) => x.accountId));
    expect(warm[0]!.accountIds.some((id) => launched.has(id))).toBe(false);
    const stillCold = later.find((f) => f !== warm[0])!;
    expect(stillCold.score).toBe(cold[0]!.score);
    expect(new Set(stillCold.accountIds)).toEqual(launched);
    // The same cold burst from a hosting address is not excused: data centres host no carrier NAT.
    const hosting = Array.from({ length: 60 }, (_, i) => t.signup({ ...onCarrier(400 + i, T0 + i * 60_000), ip: '203.0.113.5', subnet: '203.0.113.0/24', network: 'hosting' }));
    const fs = findings({ events: [], signups: hosting, accounts: [] }, T0 + HOUR).filter((f) => f.signals[0] === 'signup-burst-ip');
    expect(fs[0]!.score * p.cluster.weights[FARMING]!).toBeGreaterThanOrEqual(p.actions.throttle.score);
  });

  it('forgets bursts after the retention period', () => {
    const t = new Traffic(35);
    const engine = new AbuseEngine();
    play(farmScene(t, 40), engine);
    const det = engine.detectors.find((d) => d.name === FARMING)!;
    expect(det.findings(T0 + DAY).length).toBeGreaterThan(0);
    expect(det.findings(T0 + 9 * DAY)).toEqual([]);
  });
});

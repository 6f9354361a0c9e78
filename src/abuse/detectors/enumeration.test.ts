import { describe, expect, it } from 'vitest';
import { AbuseEngine } from '../engine.js';
import { DAY, HOUR, T0, Traffic, importerScene, leakedListScene, merge, organicScene, play, rangeScanScene, type Scene } from '../synthetic.js';
import { ENUMERATION } from './enumeration.js';
import type { Finding } from './types.js';

function findings(scene: Scene, now: number): Finding[] {
  const engine = new AbuseEngine();
  play(scene, engine, now);
  return engine.detectors.find((d) => d.name === ENUMERATION)!.findings(now);
}

const byAccount = (fs: Finding[]): Map<string, Finding> => new Map(fs.map((f) => [f.accountIds[0]!, f]));

describe('enumeration detector', () => {
  it('flags a single account scanning consecutive ranges: dense calls walking blocks, low hit rate, foreign numbers', () => {
    const t = new Traffic(11);
    const scan = rangeScanScene(t, { accounts: 1, days: 1, callsPerDay: 30, slice: 30_000, batch: 1000 });
    const organic = organicScene(t, 1);
    const fs = byAccount(findings(merge(scan, organic), T0 + DAY));
    const f = fs.get('fake-00000')!;
    expect(f).toBeDefined();
    expect(f.signals).toEqual(expect.arrayContaining(['dense', 'run', 'low-hit-rate', 'foreign']));
    expect(f.score).toBeGreaterThan(0.9);
    expect(f.explanation).toMatch(/^account fake-00000 \(new, on hosting networks\): .*dense calls .* walked 3 blocks in ascending order \(\+1415200… to \+1415202…\).*hit rate 0\.10 on [\d,]+ answered numbers vs population 0\.\d\d/);
  });

  it('flags the importer: more new numbers than any address book, mostly foreign', () => {
    const t = new Traffic(12);
    const fs = byAccount(findings(merge(importerScene(t), organicScene(t, 1)), T0 + HOUR));
    for (const id of ['importer-0', 'importer-1']) {
      const f = fs.get(id)!;
      expect(f.signals).toEqual(expect.arrayContaining(['velocity', 'foreign']));
      expect(f.score).toBeGreaterThan(0.9);
      expect(f.explanation).toContain('new numbers within 1h (bar 6,000)');
    }
  });

  it('flags accounts working through a leaked list: hit rate far above the population, numbers from everywhere', () => {
    const t = new Traffic(13);
    const fs = byAccount(findings(merge(leakedListScene(t), organicScene(t, 10)), T0 + 10 * DAY));
    const leak = [...fs.values()].filter((f) => f.accountIds[0]!.startsWith('leak-'));
    expect(leak.length).toBe(10);
    for (const f of leak) expect(f.signals).toEqual(expect.arrayContaining(['high-hit-rate', 'foreign']));
  });

  it('leaves ordinary people alone: overlapping books, carrier NAT, a family phone, a traveller, an emigrant', () => {
    const t = new Traffic(14);
    const organic = organicScene(t, 3);
    const fs = findings(organic, T0 + 3 * DAY);
    expect(fs.filter((f) => f.score >= 0.35)).toEqual([]);
    expect(organic.accounts.length).toBeGreaterThan(360);
  });

  it('a real new user syncing a maximal book once is not enumeration', () => {
    const t = new Traffic(15);
    const organic = organicScene(t, 1);
    const big = t.call({ ...{ accountId: 'new-user', createdAt: T0, phoneRegion: 'US', ip: '100.64.1.1', subnet: '100.64.1.0/24', asn: 7922, country: 'US', network: 'other' } }, T0 + 60_000, t.book([...Array(40).keys()].map((i) => `+1212${300 + i}`), [], 5000), { hitRate: 0.3 });
    const fs = byAccount(findings(merge(organic, { events: [big], signups: [], accounts: ['new-user'] }), T0 + HOUR));
    expect(fs.get('new-user')).toBeUndefined();
  });
});

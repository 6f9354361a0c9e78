import SQLite from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadIpIntel } from '../src/net/index.js';
import { loadPolicy, type CompiledPolicy } from '../src/policy/index.js';
import { InProcessDriver, ipSourceFrom, loadScenario, runScenario, World, type IpSource } from '../src/simulate/index.js';
import { Recorder } from '../src/simulate/metrics.js';
import type { ScenarioSpec } from '../src/simulate/scenario.js';

let ips: IpSource;
beforeAll(async () => {
  ips = ipSourceFrom(await loadIpIntel());
});

/** Built-in scenarios shrunk to test size: the same code paths, seconds instead of minutes. */
function small(name: string, patch: (s: ScenarioSpec) => void = () => undefined): ScenarioSpec {
  const spec = loadScenario(name);
  spec.population.accounts = 2000;
  spec.days = Math.min(spec.days, 2);
  for (const a of spec.attackers) {
    a.accounts = Math.min(a.accounts, 40);
    a.startDay = Math.min(a.startDay, 0.5);
    a.createdOverDays = Math.min(a.createdOverDays, 0.5);
  }
  patch(spec);
  return spec;
}

const NONE = loadPolicy('none');
const run = (spec: ScenarioSpec, policy?: CompiledPolicy) => runScenario(spec, ips, (w) => InProcessDriver.create(w, { matchWorkers: 0, ...(policy ? { policy } : {}) }));

describe('attack simulator', () => {
  it('gives the same JSON, byte for byte, for the same seed (and another for another seed)', { timeout: 120_000 }, async () => {
    const a = await run(small('twitter-2019'));
    const b = await run(small('twitter-2019'));
    expect(JSON.stringify(b.result)).toBe(JSON.stringify(a.result));
    const c = await run(small('twitter-2019', (s) => (s.seed = 7)));
    expect(JSON.stringify(c.result)).not.toBe(JSON.stringify(a.result));
  });

  it('twitter-2019 with no protections exposes at least 99% of its targets, from 11 countries', { timeout: 120_000 }, async () => {
    const { result } = await run(small('twitter-2019'), NONE);
    const attacker = result.attackers[0]!;
    expect(attacker.targets).toBeGreaterThan(100);
    expect(attacker.exposure).toBeGreaterThanOrEqual(0.99);
    expect(attacker.countries).toEqual(expect.arrayContaining(['IR', 'MY', 'IL']));
    expect(attacker.countries.length).toBeGreaterThanOrEqual(10);
    expect(attacker.containment.contained).toBe(false);
    expect(result.organic.syncs).toBeGreaterThan(0);
    expect(result.organic.syncsRefused).toBe(0);
    expect(result.organic.accountsSuspended).toBe(0);
  });

  it('oracle-probe learns nothing from the uniform responses', async () => {
    const { result, timing } = await run(small('oracle-probe', (s) => {
      const probe = s.attackers[0]!;
      if (probe.kind === 'oracle-probe') probe.samplesPerClass = 30;
    }), NONE);
    const probe = result.attackers[0]!;
    const findings = probe.details.probes as Array<{ probe: string; distinguishes: Record<string, boolean> }>;
    expect(findings.length).toBeGreaterThanOrEqual(8);
    for (const f of findings) {
      expect({ ...f.distinguishes, discoverable: undefined }, f.probe).toEqual({ undiscoverable: false, two_factor_only: false, suspended: false, discoverable: undefined });
    }
    // The control class matches, so probes that can answer must tell it apart: the instrument works.
    expect(findings.find((f) => f.probe === 'lookup e164')!.distinguishes.discoverable).toBe(true);
    expect(findings.find((f) => f.probe === 'sync one')!.distinguishes.discoverable).toBe(true);
    expect(probe.details.learnedAnything).toBe(false);
    expect(timing.oracle).toHaveLength(findings.length);
  });

  it('runs the other built-in attackers end to end', { timeout: 90_000 }, async () => {
    for (const name of ['facebook-importer', 'leaked-list', 'targeted', 'account-farm']) {
      const { result } = await run(
        small(name, (s) => {
          for (const a of s.attackers) {
            if (a.kind === 'random-scan') a.numbers = 20_000;
            if (a.kind === 'list') {
              a.listSize = Math.min(a.listSize, 300);
              a.overDays = 1;
            }
            if (a.kind === 'account-farm') a.lookupsPerAccount = 10;
          }
        }),
        NONE,
      );
      const a = result.attackers[0]!;
      expect(a.requests, name).toBeGreaterThan(0);
      expect(a.exposure, name).toBeGreaterThan(0.5);
    }
  });
});

describe('leaked-list-by-country', () => {
  it('each account asks only its own country\'s numbers, with a phone and an address of that country', async () => {
    let dir = '';
    const spec = small('leaked-list-by-country', (s) => {
      for (const a of s.attackers) if (a.kind === 'list') (a.listSize = 600), (a.overDays = 1);
    });
    const { result } = await runScenario(spec, ips, (w) => InProcessDriver.create(w, { matchWorkers: 0, policy: NONE, keepData: (d) => (dir = d) }));
    try {
      const attacker = result.attackers[0]!;
      expect(attacker.requests).toBeGreaterThan(0);
      expect(attacker.exposure).toBeGreaterThan(0.5);
      // Which country every number block of the population belongs to.
      const region = new Map<string, string>();
      for (const r of new World(spec, ips).population.regionInfo()) for (const b of r.blocks) region.set(b, r.region);
      const db = new SQLite(join(dir, 'findguard.events.sqlite'), { readonly: true });
      const rows = db.prepare(`SELECT account_id, country, phone_region, blocks FROM lookup_events WHERE account_id LIKE 'leaked-list-by-country-%'`).all() as Array<{ account_id: string; country: string; phone_region: string; blocks: string }>;
      db.close();
      expect(new Set(rows.map((r) => r.account_id)).size).toBeGreaterThan(10);
      const countries = new Set<string>();
      for (const r of rows) {
        countries.add(r.phone_region);
        expect(r.country, r.account_id).toBe(r.phone_region);
        for (const block of Object.keys(JSON.parse(r.blocks) as Record<string, number>)) expect(region.get(block), block).toBe(r.phone_region);
      }
      expect(countries.size).toBeGreaterThan(3);
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('metrics', () => {
  it('computes exposure, refusals and series on a hand-checked tally', () => {
    const start = Date.parse('2026-01-05T00:00:00Z');
    const rec = new Recorder(start);
    const t = rec.attacker('x', 'range-scan');
    [1, 2, 3, 4].forEach((i) => t.targets.add(i));
    rec.attackerResponse(t, start + 10, 'a', 100, { ok: true }, [1, 2, 9]);
    rec.attackerResponse(t, start + 3_600_000, 'a', 100, { ok: false, status: 429, code: 'rate_limited', scope: 'ip' }, []);
    rec.attackerResponse(t, start + 3_700_000, 'b', 50, { ok: false, status: 403, code: 'account_suspended' }, []);
    expect([...t.revealed].sort()).toEqual([1, 2]);
    expect(t.requests).toBe(3);
    expect(t.numbersQueried).toBe(250);
    expect(t.refusedByStatus).toEqual({ '429': 1, '403': 1 });
    expect(t.refusedByScope).toEqual({ ip: 1 });
    expect(t.series).toEqual([
      { hour: 0, exposure: 0.5, requests: 1, refused: 0 },
      { hour: 1, exposure: 0.5, requests: 2, refused: 2 },
    ]);
    expect(t.blocked.has('b')).toBe(true);
    rec.organicSync(start - 1, 10, { ok: true });
    rec.organicSync(start + 1, 10, { ok: false, status: 429, code: 'rate_limited', scope: 'account' });
    expect(rec.organic.syncs).toBe(1);
    expect(rec.organic.syncsRefused).toBe(1);
  });
});

describe('simulate --target', () => {
  it('drives a running findguard over real HTTP, dating accounts by the target\'s clock', async () => {
    const { startTestService, SERVICE_KEY, JWT_SECRET } = await import('./helpers/service.js');
    const { RemoteDriver } = await import('../src/simulate/index.js');
    const { systemClock } = await import('../src/util/clock.js');
    // A deployment runs on the wall clock, months after the scenario's calendar (January 2026).
    const svc = await startTestService('sqlite', { trustedProxies: '127.0.0.1', policy: 'none' }, { clock: systemClock });
    const began = Date.now();
    try {
      const address = await svc.app.listen({ host: '127.0.0.1', port: 0 });
      const spec = small('twitter-2019', (s) => {
        s.population.accounts = 300;
        s.days = 1;
        s.organic.syncShare = 0.01;
        for (const a of s.attackers) {
          a.accounts = 3;
          if (a.kind === 'range-scan') a.blockShare = 0.05;
        }
      });
      const { result } = await runScenario(spec, ips, async () => new RemoteDriver(address, SERVICE_KEY, JWT_SECRET));
      expect(result.policy).toBe('remote');
      const attacker = result.attackers[0]!;
      expect(attacker.requests).toBeGreaterThan(0);
      expect(attacker.exposure).toBeGreaterThanOrEqual(0.99);
      const view = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/twitter-2019-00000', headers: svc.internal });
      expect(view.json().signup.ip).not.toBe('127.0.0.1');
      // The attacker's fresh accounts are fresh at the target, and the population has the ages the
      // scenario gave it there: none dated after the run, the newest within a day of its start.
      const ended = Date.now();
      const rows = await svc.ctx.db.kysely.selectFrom('accounts').select(['id', 'created_at']).execute();
      const fakes = rows.filter((r) => r.id.startsWith('twitter-2019-')).map((r) => Number(r.created_at));
      const people = rows.filter((r) => !r.id.startsWith('twitter-2019-')).map((r) => Number(r.created_at));
      expect(fakes.length).toBeGreaterThan(0);
      for (const at of fakes) expect(at).toBeGreaterThanOrEqual(began - 2000);
      expect(Math.max(...fakes)).toBeLessThanOrEqual(ended + 2000);
      expect(Math.max(...people)).toBeLessThanOrEqual(ended + 2000);
      expect(Math.max(...people)).toBeGreaterThan(began - 86_400_000);
    } finally {
      await svc.stop();
    }
  });
});

describe('attested sign-ups', () => {
  it('a fleet with attestedSignups is mirrored attested, one without is not; organic sign-ups are', async () => {
    const once = async (attested: boolean) => {
      let dir = '';
      const spec = small('launch-day', (s) => {
        s.attackers = loadScenario('twitter-2019').attackers.map((a) => ({ ...a, accounts: 40, startDay: 0.5, createdOverDays: 0.5, attestedSignups: attested }));
      });
      await runScenario(spec, ips, (w) => InProcessDriver.create(w, { matchWorkers: 0, keepData: (d) => (dir = d) }));
      try {
        const main = new SQLite(join(dir, 'findguard.sqlite'), { readonly: true });
        const count = (where: string) => main.prepare(`SELECT signup_attested AS a, count(*) AS n FROM accounts WHERE ${where} GROUP BY signup_attested`).all();
        const out = { fleet: count(`id LIKE 'twitter-2019-%'`), people: count(`id NOT LIKE 'twitter-2019-%' AND signup_ip IS NOT NULL`) };
        main.close();
        return out;
      } finally {
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    };
    const attested = await once(true);
    expect(attested.fleet).toEqual([{ a: 1, n: 40 }]);
    // The launch's joiners signed up during the run, from their phones: the app attests them.
    expect(attested.people).toHaveLength(1);
    expect(attested.people[0]).toMatchObject({ a: 1 });
    expect((attested.people[0] as { n: number }).n).toBeGreaterThan(10);
    expect((await once(false)).fleet).toEqual([{ a: null, n: 40 }]);
  }, 180_000);
});

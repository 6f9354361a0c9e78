import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadIpIntel } from '../src/net/index.js';
import { Population } from '../src/population/index.js';
import { InProcessDriver, ipSourceFrom, loadScenario, runScenario, World, type IpSource } from '../src/simulate/index.js';
import { MIGRATION, profileOf, SIMULATION_COUNTRIES } from '../src/simulate/international.js';

let ips: IpSource;
let intel: Awaited<ReturnType<typeof loadIpIntel>>;
beforeAll(async () => {
  intel = await loadIpIntel();
  ips = ipSourceFrom(intel);
});

const DAY_MS = 86_400_000;
const OPTS = { scale: 1, borderShare: 0.03, familyAbroadShare: 0.15 };

describe('international organic model', () => {
  it("gives each country's residents the stated share of people born abroad", () => {
    const accounts = 120_000;
    const pop = new Population({ seed: 7, accounts, now: Date.parse('2026-01-01T00:00:00Z'), countries: [...SIMULATION_COUNTRIES] });
    const seen = new Map<string, { n: number; abroad: number; students: number }>();
    for (let i = 0; i < accounts; i++) {
      const region = pop.regionOf(i);
      const { kind } = profileOf(7, i, region, OPTS);
      const e = seen.get(region) ?? { n: 0, abroad: 0, students: 0 };
      e.n++;
      if (kind === 'migrant' || kind === 'student') e.abroad++;
      if (kind === 'student') e.students++;
      seen.set(region, e);
    }
    for (const [region, r] of Object.entries(MIGRATION)) {
      const e = seen.get(region)!;
      // Binomial tolerance: four standard deviations, and never tighter than 0.2 points.
      const sd = Math.sqrt((r.migrants * (1 - r.migrants)) / e.n);
      expect(Math.abs(e.abroad / e.n - r.migrants), `${region}: ${e.abroad}/${e.n} vs ${r.migrants}`).toBeLessThanOrEqual(Math.max(4 * sd, 0.002));
    }
    // The countries where most residents were born abroad are modelled as such.
    for (const region of ['AE', 'QA', 'KW']) expect(seen.get(region)!.abroad / seen.get(region)!.n).toBeGreaterThan(0.65);
    expect(seen.get('AU')!.students).toBeGreaterThan(0);
  });

  it("spreads a migrant's book over the residence and the origin, and a student's over several countries", () => {
    const spec = loadScenario('organic-only');
    spec.population.accounts = 5000;
    const world = new World(spec, ips);
    const code = (n: string) => parsePhoneNumberFromString(n)?.countryCallingCode ?? '?';
    const codes = (i: number) => {
      const perCode = new Map<string, number>();
      for (const n of world.book(i)) perCode.set(code(n), (perCode.get(code(n)) ?? 0) + 1);
      return perCode;
    };
    let migrants = 0;
    let students = 0;
    let domestic = 0;
    for (let i = 0; i < world.existing && (migrants < 20 || students < 2); i++) {
      const p = world.profile(i);
      const total = p.segments.reduce((s, x) => s + x.share, 0);
      expect(total).toBeCloseTo(1, 9);
      if (p.kind === 'domestic') {
        if (++domestic > 30) continue;
        expect([...codes(i).keys()]).toEqual([code(world.population.phoneOf(i))]);
      } else if (p.kind === 'migrant' && world.book(i).length >= 50) {
        migrants++;
        expect(p.segments.length).toBeGreaterThanOrEqual(2);
        // Numbers outside the residence's own blocks: the origin's share of the book, roughly.
        const home = codes(i).get(code(world.population.phoneOf(i))) ?? 0;
        expect(home / world.book(i).length).toBeLessThan(0.9);
      } else if (p.kind === 'student') {
        students++;
        expect(p.segments.length).toBeGreaterThanOrEqual(5);
      }
    }
    expect(migrants).toBeGreaterThanOrEqual(20);
  });

  it('launch day: every arrival signs up and sends its whole book in a first sync, counted, same JSON twice', async () => {
    const spec = loadScenario('launch-day');
    spec.population.accounts = 1000;
    spec.days = 1;
    spec.organic.surge = { country: 'MX', startDay: 0.1, overDays: 0.5 };
    spec.organic.maxSyncsPerDay = 20;
    spec.organic.maxLookupsPerDay = 20;
    const run = () => runScenario(spec, ips, (w) => InProcessDriver.create(w, { matchWorkers: 0 }));
    const a = await run();
    const world = new World(spec, ips);
    let arrivals = 0;
    let active = 0;
    for (const [i] of world.surgeAccounts()) {
      arrivals++;
      if (world.population.account(i).status === 'active') active++;
    }
    const surge = a.result.organic.surge!;
    expect(arrivals).toBeGreaterThan(25);
    expect(surge.arrived).toBe(arrivals);
    expect(surge.firstSyncs).toBe(active);
    expect(surge.largestFirstSync).toBeLessThanOrEqual(5000);
    expect(a.result.population.atStart).toBe(world.existing - arrivals);
    expect(a.result.organic.harm.surgeFirstSyncsRefused).toBe(surge.firstSyncsRefused);
    const b = await run();
    expect(JSON.stringify(b.result)).toBe(JSON.stringify(a.result));
  }, 60_000);

  it("puts about accountsPerCgnatIp of a country's IPv4 users on each carrier NAT address, a small country's as much as a large one's", () => {
    const spec = loadScenario('launch-day');
    spec.population.accounts = 20_000;
    const world = new World(spec, ips);
    const perIp = new Map<string, Map<string, number>>();
    for (let i = 0; i < world.existing; i++) {
      const ip = world.home(i).ip;
      if (ip.includes(':')) continue;
      const region = world.population.regionOf(i);
      const r = perIp.get(region) ?? new Map<string, number>();
      r.set(ip, (r.get(ip) ?? 0) + 1);
      perIp.set(region, r);
    }
    const busiest = (region: string) => Math.max(...perIp.get(region)!.values());
    const per = spec.organic.accountsPerCgnatIp ?? 300;
    // Mexico is ~5% of the population: at 20,000 accounts ~680 IPv4 users over its carriers. A pool
    // sized from the whole population spread them ~20 to an address, which no launch ever strained.
    const mx = [...perIp.get('MX')!.values()];
    expect(mx.reduce((a, b) => a + b, 0) / mx.length).toBeGreaterThan(per / 4);
    expect(busiest('MX')).toBeLessThanOrEqual(per * 1.5);
    // A carrier's pool is consecutive addresses, up to 16 in a /24: its subnet carries its users
    // together. Ten times denser pools, so that carriers have several addresses each.
    spec.organic.accountsPerCgnatIp = 30;
    const dense = new World(spec, ips);
    const shared = new Map<string, number>();
    for (let i = 0; i < dense.existing; i++) {
      const ip = dense.home(i).ip;
      if (!ip.includes(':')) shared.set(ip, (shared.get(ip) ?? 0) + 1);
    }
    const addresses = [...shared].filter(([, n]) => n >= 10).map(([ip]) => ip);
    const subnets = new Set(addresses.map((ip) => ip.split('.').slice(0, 3).join('.')));
    expect(addresses.length).toBeGreaterThan(200);
    expect(subnets.size).toBeLessThan(addresses.length / 4);
    for (const [region, r] of perIp) {
      const users = [...r.values()].reduce((a, b) => a + b, 0);
      if (users < 4 * per) continue;
      expect(busiest(region), region).toBeGreaterThan(per / 2);
      expect(busiest(region), region).toBeLessThanOrEqual(per * 1.5);
    }
  });

  it('spreads a launch early by default and late in a ramp', () => {
    const spec = loadScenario('launch-day');
    spec.population.accounts = 4000;
    const early = new World(spec, ips);
    spec.organic.surge = { ...spec.organic.surge!, shape: 'ramp' };
    const ramp = new World(spec, ips);
    const shareOnFirstDay = (w: World) => {
      const from = w.start + spec.organic.surge!.startDay * DAY_MS;
      const at = [...w.surgeAccounts()].map(([, t]) => t);
      expect(at.length).toBeGreaterThan(100);
      for (const t of at) expect(t - from).toBeLessThan(spec.organic.surge!.overDays * DAY_MS);
      return at.filter((t) => t - from < DAY_MS).length / at.length;
    };
    // overDays 3: u^2 < 1/3 for 58% of arrivals, sqrt(u) < 1/3 for 11%.
    expect(shareOnFirstDay(early)).toBeGreaterThan(0.5);
    expect(shareOnFirstDay(ramp)).toBeLessThan(0.2);
  });

  it('puts vpnShare of people behind a hosting address of their country on every call, and nobody unless a scenario says so', () => {
    const spec = loadScenario('organic-only');
    spec.population.accounts = 3000;
    const hostingShare = (w: World) => {
      let hosting = 0;
      let n = 0;
      for (let i = 0; i < w.existing; i += 3) {
        n++;
        const info = intel.lookup(w.home(i).ip);
        if (info.hosting) {
          hosting++;
          expect(w.onVpn(i)).toBe(true);
          // Travelling or not, the VPN stays on.
          for (let s = 0; s < 5; s++) expect(w.session(i, s).ip).toBe(w.home(i).ip);
        }
      }
      return hosting / n;
    };
    expect(hostingShare(new World(spec, ips))).toBe(0);
    spec.organic.vpnShare = 0.3;
    const share = hostingShare(new World(spec, ips));
    expect(share).toBeGreaterThan(0.25);
    expect(share).toBeLessThan(0.35);
  });

  it("puts about vpnUsersPerEgress of a country's VPN users on each egress address", () => {
    const spec = loadScenario('organic-only');
    spec.population.accounts = 20_000;
    spec.organic.vpnShare = 0.1;
    spec.organic.vpnUsersPerEgress = 40;
    const world = new World(spec, ips);
    const perEgress = new Map<string, Map<string, number>>();
    for (let i = 0; i < world.existing; i++) {
      if (!world.onVpn(i)) continue;
      const region = world.population.regionOf(i);
      const r = perEgress.get(region) ?? new Map<string, number>();
      const ip = world.home(i).ip;
      expect(intel.lookup(ip).hosting).toBe(true);
      r.set(ip, (r.get(ip) ?? 0) + 1);
      perEgress.set(region, r);
    }
    let dense = 0;
    for (const [region, r] of perEgress) {
      const users = [...r.values()].reduce((a, b) => a + b, 0);
      // Each user keeps one egress (it is their home connection), and a country's users fill its egresses.
      expect(Math.max(...r.values()), region).toBeLessThanOrEqual(40 * 2);
      if (users < 4 * 40) continue;
      dense++;
      expect(users / r.size, region).toBeGreaterThan(40 / 2);
    }
    expect(dense).toBeGreaterThanOrEqual(3);
  });
});

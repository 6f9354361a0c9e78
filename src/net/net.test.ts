import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '../util/random.js';
import { cacheFileName, readCache, writeCache } from './cache.js';
import {
  HOSTING_NAME_PATTERN,
  InvalidIpError,
  IpSampler,
  IpSamplerError,
  OfflineIpIntel,
  ipIntelFromRanges,
  isHostingName,
  isIp,
  loadIpIntel,
  normalizeIp,
  subnetKeys,
} from './index.js';
import { parseIPv6 } from './ip.js';
import { dataFiles, tablesFromRows } from './table-sources.js';

// The packaged data is loaded once for the file (about 1.7 s from the CSVs on a fresh install,
// about 0.2 s from the snapshot afterwards).
let intel: OfflineIpIntel;
beforeAll(async () => {
  intel = await loadIpIntel();
});

const COUNTRIES = ['IR', 'MY', 'IL', 'US', 'IN', 'BR', 'ID', 'NG', 'GB', 'DE', 'FR', 'MX', 'JP', 'TR', 'RU'];

describe('ip parsing and subnet keys', () => {
  it('normalises IPv4 and IPv6 and keys subnets', () => {
    expect(subnetKeys('203.0.113.77')).toEqual({ subnet: '203.0.113.0/24' });
    expect(subnetKeys('2001:DB8:0001:0002:0003:0004:0005:0006')).toEqual({
      subnet: '2001:db8:1:2::/64',
      wide: '2001:db8:1::/48',
    });
    expect(subnetKeys('2001:db8::1')).toEqual({ subnet: '2001:db8::/64', wide: '2001:db8::/48' });
    // IPv4-mapped IPv6 is the IPv4 address: same keys, so it cannot be used to dodge v4 limits.
    expect(subnetKeys('::ffff:198.51.100.9')).toEqual({ subnet: '198.51.100.0/24' });
    expect(normalizeIp('::FFFF:c633:6409')).toBe('198.51.100.9');
    expect(normalizeIp('fe80::1%eth0')).toBe('fe80::1');
    expect(normalizeIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
  });

  it('rejects malformed and ambiguous input with a typed error', () => {
    const bad = [
      '',
      'abc',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4', // leading zero: octal for some parsers
      '127.1',
      '0x7f.0.0.1',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '1:2:3',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '12345::',
      '::ffff:1.2.3',
      '[::1]',
      '1.2.3.4/24',
    ];
    for (const s of bad) {
      expect(isIp(s), s).toBe(false);
      expect(() => subnetKeys(s), s).toThrow(InvalidIpError);
      expect(() => intel.lookup(s), s).toThrow(InvalidIpError);
      expect(intel.tryLookup(s), s).toBeUndefined();
    }
    try {
      intel.lookup('nope');
    } catch (err) {
      expect((err as InvalidIpError).code).toBe('invalid_ip');
    }
    expect(intel.tryLookup(undefined as unknown as string)).toBeUndefined();
  });

  it('agrees with ipaddr.js on random IPv4 and IPv6 text', () => {
    const group = fc.integer({ min: 0, max: 0xffff });
    const words = new Uint32Array(4);
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), fc.boolean(), fc.boolean(), (parts, upper, full) => {
        const addr = new ipaddr.IPv6(parts);
        let text = full ? addr.toNormalizedString() : addr.toString();
        if (upper) text = text.toUpperCase();
        expect(parseIPv6(text, words)).toBe(true);
        const back = new ipaddr.IPv6([
          words[0]! >>> 16,
          words[0]! & 0xffff,
          words[1]! >>> 16,
          words[1]! & 0xffff,
          words[2]! >>> 16,
          words[2]! & 0xffff,
          words[3]! >>> 16,
          words[3]! & 0xffff,
        ]);
        expect(back.toNormalizedString()).toBe(addr.toNormalizedString());
        if (addr.isIPv4MappedAddress()) return;
        const range = addr.range();
        if (range === '6to4' || range === 'rfc6052') {
          // Read as the IPv4 host they carry when it is a global one (ip.ts tunnelled): that or the
          // address itself, never anything else. (A 6to4 draw, 2002:100:: -> 1.0.0.0, failed a CI run.)
          const [hi, lo] = range === '6to4' ? [parts[1]!, parts[2]!] : [parts[6]!, parts[7]!];
          const v4 = `${hi >>> 8}.${hi & 255}.${lo >>> 8}.${lo & 255}`;
          expect([addr.toRFC5952String(), v4]).toContain(normalizeIp(text));
        } else expect(normalizeIp(text)).toBe(addr.toRFC5952String());
      }),
      { numRuns: 2000, examples: [[[0x2002, 0x100, 0, 0, 0, 0, 0, 0], false, false], [[0x64, 0xff9b, 0, 0, 0, 0, 0x808, 0x808], true, true]] },
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), (octets) => {
        const text = octets.join('.');
        expect(normalizeIp(text)).toBe(ipaddr.IPv4.parse(text).toString());
        expect(subnetKeys(text).subnet).toBe(`${octets.slice(0, 3).join('.')}.0/24`);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('lookups on the packaged data', () => {
  it('knows well-known addresses', () => {
    const g = intel.lookup('8.8.8.8');
    expect(g).toMatchObject({ ip: '8.8.8.8', version: 4, country: 'US', asn: 15169, hosting: true });
    expect(g.asName).toMatch(/Google/);
    expect(g.subnet24).toBe('8.8.8.0/24');
    expect(intel.lookup('1.1.1.1')).toMatchObject({ asn: 13335, hosting: true });
    const g6 = intel.lookup('2001:4860:4860::8888');
    expect(g6).toMatchObject({ version: 6, asn: 15169, country: 'US', hosting: true });
    expect(g6.subnet64).toBe('2001:4860:4860::/64');
    expect(g6.subnet48).toBe('2001:4860:4860::/48');
    expect(intel.lookup('::ffff:8.8.4.4')).toMatchObject({ ip: '8.8.4.4', version: 4, asn: 15169 });
    // 6to4 and NAT64 forms are the IPv4 host they carry; Teredo is judged a hosting network.
    expect(intel.lookup('2002:808:404:77::1')).toMatchObject({ ip: '8.8.4.4', version: 4, asn: 15169, hosting: true, subnet24: '8.8.4.0/24' });
    expect(intel.lookup('64:ff9b::8.8.4.4')).toMatchObject({ ip: '8.8.4.4', version: 4, asn: 15169 });
    expect(intel.lookup('2001:0:4136:e378:8000:63bf:3fff:fdd2')).toMatchObject({ version: 6, hosting: true });
    expect(intel.lookup('2001:0:4136:e378:8000:63bf:3fff:fdd2').asn).toBeUndefined();
  });

  it('gives private, reserved and special addresses no country or ASN, without throwing', () => {
    for (const ip of [
      '10.0.0.1',
      '192.168.1.1',
      '172.16.5.4',
      '127.0.0.1',
      '100.64.1.1',
      '169.254.1.1',
      '0.0.0.0',
      '255.255.255.255',
      '192.0.2.1',
      '::1',
      '::',
      'fe80::1%eth0',
      'fc00::1',
      'ff02::1',
      '2001:db8::1',
    ]) {
      const info = intel.lookup(ip);
      expect(info.country, ip).toBeUndefined();
      expect(info.asn, ip).toBeUndefined();
      expect(info.asName, ip).toBeUndefined();
      expect(info.hosting, ip).toBe(false);
    }
  });

  it('agrees with an independent reading of the country and ASN CSVs', async () => {
    // Text-form country file parsed with ipaddr.js, ASN -num file with String.split; the most
    // specific range containing an address wins. Independent of tables.ts's sweep.
    const { files } = await dataFiles();
    const c4text = files.c4.replace('-ipv4-num.csv', '-ipv4.csv');
    const rowsOf = async (path: string, toNum: (s: string) => number) =>
      (await readFile(path, 'utf8'))
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => {
          const [a, b, v] = l.split(',');
          return [toNum(a!), toNum(b!), v!] as const;
        });
    const v4num = (s: string) => {
      const b = ipaddr.IPv4.parse(s).toByteArray();
      return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    };
    const country = await rowsOf(c4text, v4num);
    const asn = await rowsOf(files.a4, Number);
    const naive = (rows: ReadonlyArray<readonly [number, number, string]>, x: number): string | undefined => {
      let lo = 0;
      let hi = rows.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (rows[mid]![0] <= x) lo = mid;
        else hi = mid - 1;
      }
      let best: readonly [number, number, string] | undefined;
      for (let k = lo; k >= 0 && k > lo - 64; k--) {
        const r = rows[k]!;
        if (r[0] <= x && x <= r[1] && (!best || r[1] - r[0] < best[1] - best[0])) best = r;
      }
      return best?.[2];
    };
    const rng = new SeededRandom(7);
    let checked = 0;
    for (let i = 0; i < 3000; i++) {
      const x = rng.int(2 ** 32);
      const ip = `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
      const info = intel.lookup(ip);
      if (info.country === undefined && info.asn === undefined) continue; // blanked or unallocated
      checked++;
      expect(info.country, ip).toBe(naive(country, x));
      expect(info.asn === undefined ? undefined : String(info.asn), ip).toBe(naive(asn, x));
    }
    expect(checked).toBeGreaterThan(1500);
  });

  it('looks up well over 200k addresses per second', () => {
    const s = new IpSampler(intel, new SeededRandom(3));
    const ips = Array.from({ length: 5000 }, (_, i) => (i % 5 === 0 ? s.inCountry('DE', 'any', 6) : s.inCountry('US')));
    const n = 200_000;
    const t0 = performance.now();
    let hosting = 0;
    for (let i = 0; i < n; i++) if (intel.lookup(ips[i % ips.length]!).hosting) hosting++;
    const perSecond = n / ((performance.now() - t0) / 1000);
    expect(hosting).toBeGreaterThanOrEqual(0);
    expect(perSecond).toBeGreaterThan(200_000);
  });
});

describe('hosting heuristic', () => {
  it('flags the curated clouds and hosting-named networks, not eyeball carriers', () => {
    for (const asn of [16509, 14618, 15169, 396982, 8075, 16276, 24940, 14061, 63949, 20473, 51167, 45102, 132203, 60781, 16265, 12876, 9009]) {
      expect(intel.isHostingAsn(asn), `AS${asn}`).toBe(true);
    }
    // Comcast, Deutsche Telekom, Iran Telecommunication Co, TM (MY), Partner (IL), Telmex Colombia
    for (const asn of [7922, 3320, 58224, 4788, 12400, 10620, 27831]) {
      expect(intel.isHostingAsn(asn), `AS${asn} ${intel.asName(asn)}`).toBe(false);
    }
    expect(isHostingName('Hostinger International Limited')).toBe(true);
    expect(isHostingName('Huawei Cloud Service data center')).toBe(true);
    expect(isHostingName('FDCservers.net')).toBe(true);
    expect(isHostingName('Colocation America Corporation')).toBe(true);
    expect(isHostingName('Colombia Movil')).toBe(false);
    expect(isHostingName('NetCologne Gesellschaft fur Telekommunikation mbH')).toBe(false);
    expect(HOSTING_NAME_PATTERN.test('Comcast Cable Communications, LLC')).toBe(false);
  });

  it('lets the policy add and remove ASNs', async () => {
    const custom = await loadIpIntel({ hostingAsns: [7922], nonHostingAsns: [13335] });
    expect(custom.isHostingAsn(7922)).toBe(true);
    expect(custom.lookup('1.1.1.1').hosting).toBe(false);
    expect(custom.tables).toBe(intel.tables); // one copy of the data per process
    expect(intel.isHostingAsn(7922)).toBe(false);
  });
});

describe('IpSampler', () => {
  it('is deterministic for a seed', () => {
    const draw = (seed: number) => {
      const s = new IpSampler(intel, new SeededRandom(seed));
      const out: string[] = [];
      for (let i = 0; i < 300; i++) {
        out.push(s.inCountry(COUNTRIES[i % COUNTRIES.length]!, i % 2 ? 'residential' : 'any'));
        if (i % 10 === 0) out.push(s.inCountry('DE', 'hosting', 6), s.inAsn(15169));
      }
      return out;
    };
    const a = draw(42);
    expect(draw(42)).toEqual(a);
    expect(draw(43)).not.toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(a.length * 0.95);
  });

  it('draws Iranian, Malaysian and Israeli addresses that look up to their country', () => {
    const s = new IpSampler(intel, new SeededRandom(1));
    for (const c of ['IR', 'MY', 'IL']) {
      for (let i = 0; i < 50; i++) {
        expect(intel.lookup(s.inCountry(c)).country).toBe(c);
        expect(intel.lookup(s.inCountry(c, 'residential', 6)).country).toBe(c);
      }
    }
  });

  it('round-trips 10,000 samples over 15 countries to the requested country, kind and ASN', () => {
    const s = new IpSampler(intel, new SeededRandom(2024));
    const kinds = ['any', 'residential', 'hosting'] as const;
    let total = 0;
    let ok = 0;
    for (const c of COUNTRIES) {
      const carriers = s.topAsns(c, 'residential', 3);
      const hosts = s.topAsns(c, 'hosting', 2);
      expect(carriers.length).toBe(3);
      expect(hosts.length).toBeGreaterThan(0);
      for (let i = 0; i < 667; i++) {
        const kind = kinds[i % 3]!;
        const version = i % 7 === 0 ? 6 : 4;
        let ip: string;
        let wantAsn: number | undefined;
        if (i % 5 === 0) {
          const pick = (i % 2 ? carriers : hosts)[i % (i % 2 ? carriers.length : hosts.length)]!;
          wantAsn = pick.asn;
          ip = s.inAsn(pick.asn, 4, c);
        } else {
          ip = s.inCountry(c, kind, version);
        }
        const info = intel.lookup(ip);
        total++;
        const kindOk = wantAsn !== undefined || kind === 'any' || info.hosting === (kind === 'hosting');
        if (info.country === c && kindOk && (wantAsn === undefined || info.asn === wantAsn)) ok++;
      }
    }
    expect(total).toBe(10_005);
    expect(ok / total).toBeGreaterThanOrEqual(0.99);
  });

  it('draws an ASN anywhere it announces, and picks carriers that are access networks', () => {
    const s = new IpSampler(intel, new SeededRandom(5));
    for (let i = 0; i < 200; i++) expect(intel.lookup(s.inAsn(13335)).asn).toBe(13335);
    for (let i = 0; i < 50; i++) expect(intel.lookup(s.inAsn(15169, 6)).asn).toBe(15169);
    const us = s.topAsns('US', 'residential', 5).map((x) => x.asn);
    expect(us).toContain(7922); // Comcast
    expect(us).not.toContain(749); // DoD: routed, not hosting, but no consumer connects from it
    const plain = new IpSampler(intel, new SeededRandom(5), { residential: 'non-hosting' });
    expect(plain.topAsns('US', 'residential', 5).map((x) => x.asn)).toContain(749);
    expect(s.topAsns('DE', 'hosting', 10).map((x) => x.asn)).toContain(24940); // Hetzner
  });

  it('throws a typed error when there is nothing to draw from', () => {
    const s = new IpSampler(intel, new SeededRandom(1));
    expect(() => s.inCountry('XX')).toThrow(IpSamplerError);
    expect(() => s.inAsn(4_200_000_000)).toThrow(IpSamplerError);
    expect(() => s.inAsn(15169, 4, 'IR')).toThrow(IpSamplerError);
  });

  it('samples millions per second', () => {
    const s = new IpSampler(intel, new SeededRandom(9));
    s.inCountry('BR', 'residential');
    const n = 200_000;
    const t0 = performance.now();
    let len = 0;
    for (let i = 0; i < n; i++) len += s.inCountry('BR', 'residential').length;
    expect(len).toBeGreaterThan(0);
    expect(n / ((performance.now() - t0) / 1000)).toBeGreaterThan(300_000);
  });
});

describe('hand-made tables (fixtures)', () => {
  const rows = [
    { cidr: '198.51.100.0/24', country: 'NL', asn: 64500, asName: 'Example Hosting B.V.' },
    { cidr: '198.51.100.128/25', country: 'BE' }, // more specific country wins
    { from: '198.51.100.200', to: '198.51.100.255', asn: 64501, asName: 'Example Telecom' },
    { cidr: '2001:db8:100::/40', country: 'IR', asn: 64502, asName: 'Example Mobile' },
  ];
  const fx = ipIntelFromRanges(rows);

  it('resolves overlaps to the more specific range and maps names and hosting', () => {
    expect(fx.lookup('198.51.100.1')).toMatchObject({ country: 'NL', asn: 64500, hosting: true });
    expect(fx.lookup('198.51.100.130')).toMatchObject({ country: 'BE', asn: 64500 });
    expect(fx.lookup('198.51.100.201')).toMatchObject({ country: 'BE', asn: 64501, asName: 'Example Telecom', hosting: false });
    expect(fx.lookup('2001:db8:1ff:ffff::1')).toMatchObject({ country: 'IR', asn: 64502 });
    expect(fx.lookup('2001:db8:200::1').country).toBeUndefined();
    expect(fx.lookup('198.51.101.0').asn).toBeUndefined();
  });

  it('cuts random overlapping rows exactly as painting them most-specific-last would', () => {
    const row = fc.record({
      a: fc.integer({ min: 0, max: 63 }),
      len: fc.integer({ min: 1, max: 40 }),
      country: fc.constantFrom('AA', 'BB', 'CC', undefined),
      asn: fc.constantFrom(1, 2, 3, undefined),
    });
    fc.assert(
      fc.property(fc.array(row, { maxLength: 12 }), (raw) => {
        const rs = raw.map((r) => ({ ...r, b: Math.min(63, r.a + r.len - 1) }));
        const at = (n: number) => `10.0.0.${n}`;
        const fixture = ipIntelFromRanges(
          rs.map((r) => ({ from: at(r.a), to: at(r.b), country: r.country, asn: r.asn })),
        );
        // Expected: paint rows ordered by (start asc, end desc), stable; later paint wins.
        const order = rs
          .map((r, i) => ({ r, i }))
          .sort((x, y) => x.r.a - y.r.a || y.r.b - x.r.b || x.i - y.i)
          .map((x) => x.r);
        const country: Array<string | undefined> = new Array(64).fill(undefined);
        const asn: Array<number | undefined> = new Array(64).fill(undefined);
        for (const r of order) {
          for (let n = r.a; n <= r.b; n++) {
            if (r.country) country[n] = r.country;
            if (r.asn) asn[n] = r.asn;
          }
        }
        for (let n = 0; n < 64; n++) {
          const info = fixture.lookup(at(n));
          expect(info.country).toBe(country[n]);
          expect(info.asn).toBe(asn[n]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('samples only inside the allocations', () => {
    const s = new IpSampler(fx, new SeededRandom(1));
    for (let i = 0; i < 200; i++) {
      const ip = s.inCountry('BE');
      const n = Number(ip.split('.')[3]);
      expect(n).toBeGreaterThanOrEqual(128);
      expect(fx.lookup(s.inCountry('IR', 'residential', 6)).asn).toBe(64502);
    }
    expect(() => s.inCountry('IR', 'hosting')).toThrow(IpSamplerError);
  });

  it('snapshots the tables to disk and refuses a stale or damaged snapshot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fg-net-'));
    try {
      const tables = tablesFromRows(rows);
      const key = { source: { rows: '1' }, files: { a: { size: 1, mtimeMs: 2 } } };
      await writeCache(dir, key, tables);
      const back = await readCache(dir, key);
      expect(back).toBeDefined();
      expect(back!.v4.starts).toEqual(tables.v4.starts);
      expect(back!.v6.asn).toEqual(tables.v6.asn);
      expect([...back!.asNames]).toEqual([...tables.asNames]);
      expect(new OfflineIpIntel(back!).lookup('198.51.100.201').asName).toBe('Example Telecom');
      expect(await readCache(dir, { ...key, source: { rows: '2' } })).toBeUndefined();
      const file = cacheFileName(dir);
      const buf = await readFile(file);
      await writeFile(file, buf.subarray(0, buf.length - 40));
      expect(await readCache(dir, key)).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

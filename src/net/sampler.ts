import type { Random } from '../util/random.js';
import { buildNonAccessSet } from './hosting.js';
import { formatIPv4, formatIPv6 } from './ip.js';
import type { OfflineIpIntel } from './intel.js';
import type { FamilyTable, IpTables } from './tables.js';

export type SampleKind = 'hosting' | 'residential' | 'any';

export interface IpSamplerOptions {
  /**
   * What 'residential' draws from. 'access' (default): networks that are neither hosting nor,
   * by the heuristic in hosting.ts, institutional or transit (military, government, universities,
   * research networks, enterprises, backbones); a country with no such network falls back to
   * 'non-hosting'. 'non-hosting': everything routed that is not hosting.
   */
  residential?: 'access' | 'non-hosting';
}

/** Thrown when there is no routed allocation to draw from (unknown country or ASN, empty kind). */
export class IpSamplerError extends Error {
  readonly code = 'no_allocation' as const;
  constructor(message: string) {
    super(message);
    this.name = 'IpSamplerError';
  }
}

/** Segments to draw from, with inclusive prefix sums of their sizes. */
interface Pool {
  readonly version: 4 | 6;
  readonly idx: Int32Array;
  /** cum[k] = size of idx[0..k]; IPv6 sizes are doubles (relative precision is all we need). */
  readonly cum: Float64Array;
  readonly total: number;
}

const TWO32 = 2 ** 32;
const TWO26 = 2 ** 26;

function start6(t: FamilyTable, i: number): bigint {
  const o = i * 4;
  return (
    (BigInt(t.starts[o]!) << 96n) |
    (BigInt(t.starts[o + 1]!) << 64n) |
    (BigInt(t.starts[o + 2]!) << 32n) |
    BigInt(t.starts[o + 3]!)
  );
}

function size6(t: FamilyTable, i: number): bigint {
  const end = i + 1 < t.n ? start6(t, i + 1) : 1n << 128n;
  return end - start6(t, i);
}

function size4(t: FamilyTable, i: number): number {
  return (i + 1 < t.n ? t.starts[i + 1]! : TWO32) - t.starts[i]!;
}

/**
 * The pools of one intel (tables + hosting policy) and one residential mode. Independent of any
 * random source, so every sampler over the same intel shares it (built lazily, kept in a WeakMap).
 */
class PoolIndex {
  readonly t: IpTables;
  private readonly hosting: ReadonlySet<number>;
  private readonly nonAccess: ReadonlySet<number> | undefined;
  private readonly pools = new Map<string, Pool>();
  /** Segment indices per country index, per family (one pass over the table each). */
  private byCountry: [number[][] | undefined, number[][] | undefined] = [undefined, undefined];
  private byAsn: [Map<number, number[]> | undefined, Map<number, number[]> | undefined] = [undefined, undefined];

  constructor(intel: OfflineIpIntel, access: boolean) {
    this.t = intel.tables;
    this.hosting = intel.hostingAsns;
    this.nonAccess = access ? buildNonAccessSet(intel.tables.asNames) : undefined;
  }

  private family(version: 4 | 6): FamilyTable {
    return version === 4 ? this.t.v4 : this.t.v6;
  }

  private countrySegments(version: 4 | 6, ci: number): number[] {
    const slot = version === 4 ? 0 : 1;
    let lists = this.byCountry[slot];
    if (!lists) {
      const fam = this.family(version);
      lists = Array.from({ length: this.t.countries.length }, () => []);
      for (let i = 0; i < fam.n; i++) if (fam.asn[i] !== 0) lists[fam.country[i]!]!.push(i);
      this.byCountry[slot] = lists;
    }
    return lists[ci] ?? [];
  }

  private asnSegments(version: 4 | 6, asn: number): number[] {
    const slot = version === 4 ? 0 : 1;
    let m = this.byAsn[slot];
    if (!m) {
      const fam = this.family(version);
      m = new Map();
      for (let i = 0; i < fam.n; i++) {
        const a = fam.asn[i]!;
        if (a === 0) continue;
        let list = m.get(a);
        if (!list) m.set(a, (list = []));
        list.push(i);
      }
      this.byAsn[slot] = m;
    }
    return m.get(asn) ?? [];
  }

  private kindMatches(asn: number, kind: SampleKind, access: boolean): boolean {
    if (kind === 'any') return true;
    if (kind === 'hosting') return this.hosting.has(asn);
    return !this.hosting.has(asn) && !(access && this.nonAccess?.has(asn));
  }

  countryPool(country: string, kind: SampleKind, version: 4 | 6): Pool {
    const code = country.toUpperCase();
    const key = `c${version}:${code}:${kind}`;
    let pool = this.pools.get(key);
    if (pool) return pool;
    const ci = this.t.countries.indexOf(code);
    if (ci <= 0) throw new IpSamplerError(`no allocations for country ${JSON.stringify(country)}`);
    const fam = this.family(version);
    const segs = this.countrySegments(version, ci);
    const pick = (access: boolean): number[] => segs.filter((i) => this.kindMatches(fam.asn[i]!, kind, access));
    let picked = pick(this.nonAccess !== undefined);
    if (picked.length === 0 && kind === 'residential' && this.nonAccess) picked = pick(false);
    pool = this.makePool(version, picked, `${kind} IPv${version} space in ${code}`);
    this.pools.set(key, pool);
    return pool;
  }

  asnPool(asn: number, version: 4 | 6, country: string | undefined): Pool {
    const code = country?.toUpperCase();
    const key = `a${version}:${asn}:${code ?? '*'}`;
    let pool = this.pools.get(key);
    if (pool) return pool;
    const fam = this.family(version);
    let segs = this.asnSegments(version, asn);
    if (code !== undefined) {
      const ci = this.t.countries.indexOf(code);
      segs = segs.filter((i) => ci > 0 && fam.country[i] === ci);
    }
    pool = this.makePool(version, segs, `IPv${version} space of AS${asn}${code ? ` in ${code}` : ''}`);
    this.pools.set(key, pool);
    return pool;
  }

  private makePool(version: 4 | 6, segs: number[], what: string): Pool {
    if (segs.length === 0) throw new IpSamplerError(`no ${what}`);
    const idx = Int32Array.from(segs);
    const cum = new Float64Array(idx.length);
    let total = 0;
    const fam = this.family(version);
    for (let k = 0; k < idx.length; k++) {
      total += version === 4 ? size4(fam, idx[k]!) : Number(size6(fam, idx[k]!));
      cum[k] = total;
    }
    return { version, idx, cum, total };
  }
}

const INDEXES = new WeakMap<OfflineIpIntel, { access?: PoolIndex; plain?: PoolIndex }>();

function poolIndex(intel: OfflineIpIntel, access: boolean): PoolIndex {
  let entry = INDEXES.get(intel);
  if (!entry) INDEXES.set(intel, (entry = {}));
  const slot = access ? 'access' : 'plain';
  return (entry[slot] ??= new PoolIndex(intel, access));
}

/**
 * Draws addresses from real allocations, for the attack simulator: uniform over the address
 * space of the matching segments (a segment = one (country, origin ASN) range of the data), so a
 * country's draws spread over its networks in proportion to their address space. Only routed
 * space (with an origin ASN) is drawn. Deterministic for a given `Random` sequence: the same
 * seed gives the same addresses, call for call. Each IPv4 draw costs one or two `rng.int` calls
 * and a binary search. Pools are built lazily on first use (a few ms each) and shared by all
 * samplers over the same intel.
 */
export class IpSampler {
  private readonly t: IpTables;
  private readonly index: PoolIndex;

  constructor(
    intel: OfflineIpIntel,
    private readonly rng: Random,
    options: IpSamplerOptions = {},
  ) {
    this.t = intel.tables;
    this.index = poolIndex(intel, options.residential !== 'non-hosting');
  }

  /** A random address from real allocations of this country (ISO alpha-2). */
  inCountry(country: string, kind: SampleKind = 'any', version: 4 | 6 = 4): string {
    return this.draw(this.index.countryPool(country, kind, version));
  }

  /** A random address inside this ASN's allocations, optionally only those of one country. */
  inAsn(asn: number, version: 4 | 6 = 4, country?: string): string {
    return this.draw(this.index.asnPool(asn, version, country));
  }

  /**
   * The largest ASNs of a country by address space (IPv4 unless version 6), to pick carriers
   * (CGNAT pools) and hosting providers. `addresses` is the ASN's address count in the country.
   */
  topAsns(
    country: string,
    kind: 'hosting' | 'residential',
    n: number,
    version: 4 | 6 = 4,
  ): Array<{ asn: number; name: string; addresses: number }> {
    const pool = this.index.countryPool(country, kind, version);
    const fam = version === 4 ? this.t.v4 : this.t.v6;
    const sizes = new Map<number, number>();
    let prev = 0;
    for (let k = 0; k < pool.idx.length; k++) {
      const asn = fam.asn[pool.idx[k]!]!;
      const c = pool.cum[k]!;
      sizes.set(asn, (sizes.get(asn) ?? 0) + (c - prev));
      prev = c;
    }
    return [...sizes]
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, Math.max(0, n))
      .map(([asn, addresses]) => ({ asn, name: this.t.asNames.get(asn) ?? `AS${asn}`, addresses }));
  }

  /** Countries present in the data (ISO alpha-2). */
  countries(): string[] {
    return this.t.countries.slice(1);
  }

  /** Smallest k with cum[k] > r. */
  private static search(cum: Float64Array, r: number): number {
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid]! > r) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private draw(pool: Pool): string {
    if (pool.version === 4) {
      const r = this.rng.int(pool.total);
      const k = IpSampler.search(pool.cum, r);
      const seg = pool.idx[k]!;
      const offset = r - (k > 0 ? pool.cum[k - 1]! : 0);
      return formatIPv4(this.t.v4.starts[seg]! + offset);
    }
    const u = (this.rng.int(TWO26) * TWO26 + this.rng.int(TWO26)) / 2 ** 52;
    const k = IpSampler.search(pool.cum, u * pool.total);
    const seg = pool.idx[k]!;
    const fam = this.t.v6;
    const size = size6(fam, seg);
    let offset: bigint;
    if (size <= 2n ** 52n) {
      offset = BigInt(this.rng.int(Number(size)));
    } else {
      let r = 0n;
      for (const b of this.rng.bytes(16)) r = (r << 8n) | BigInt(b);
      offset = r % size; // modulo bias at most size / 2^128: negligible for any real allocation
    }
    const a = start6(fam, seg) + offset;
    return formatIPv6(
      Number(a >> 96n),
      Number((a >> 64n) & 0xffffffffn),
      Number((a >> 32n) & 0xffffffffn),
      Number(a & 0xffffffffn),
    );
  }
}

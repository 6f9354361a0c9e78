import { discoverBlocks, Population } from '../population/index.js';
import { SeededRandom } from '../util/random.js';
import type { OrganicSpec, ScenarioSpec } from './scenario.js';

const DAY = 86_400_000;
/** Mobile number blocks per country that strangers' numbers in address books are drawn from. */
const STRANGER_BLOCKS = 200;

/** Where simulated addresses come from: real allocations of a country or network. */
export interface IpSource {
  inCountry(country: string, kind: 'hosting' | 'residential', version: 4 | 6, rng: SeededRandom): string;
  inAsn(asn: number, version: 4 | 6, rng: SeededRandom): string;
  topAsns(country: string, kind: 'hosting' | 'residential', n: number): Array<{ asn: number; name: string }>;
}

/** A small, fast, stable hash of integers: per-entity randomness without storing anything. */
export function mix(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p & 0xffff), 0x01000193);
    h = Math.imul(h ^ (p >>> 16), 0x01000193);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

export function rngFor(...parts: number[]): SeededRandom {
  return new SeededRandom(mix(...parts) | 0);
}

/** A standard normal draw (Box-Muller). */
export function normal(rng: SeededRandom): number {
  const u = Math.max(rng.float(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.float());
}

export interface Connection {
  ip: string;
  deviceId: string;
}

/**
 * The organic world: who exists when, who knows whom (address books from a social graph), and
 * which network each person uses. Everything is a pure function of the scenario seed and an
 * account index, so a million accounts cost no memory until they act.
 */
export class World {
  readonly population: Population;
  /** Accounts with index < existing were created before the start. */
  readonly existing: number;
  readonly start: number;
  readonly end: number;
  private readonly organic: OrganicSpec;
  private readonly cgnat = new Map<string, string>();
  private readonly carriers = new Map<string, Array<{ asn: number; name: string }>>();
  private readonly books = new Map<number, string[]>();
  private readonly strangers = new Map<string, readonly string[]>();

  constructor(
    readonly spec: ScenarioSpec,
    private readonly ips: IpSource,
  ) {
    this.start = Date.parse(spec.start);
    this.end = this.start + spec.days * DAY;
    this.organic = spec.organic;
    // The generator's growth curve (25x over 8 years) gives the share that joins during the run.
    const growthPerDay = Math.log(25) / (8 * 365);
    const total = Math.ceil(spec.population.accounts * (1 + growthPerDay * spec.days)) + 1;
    this.population = new Population({
      seed: spec.seed,
      accounts: total,
      now: this.end,
      discoverableShare: spec.population.discoverableShare,
      occupancy: spec.population.occupancy,
    });
    this.existing = this.countCreatedBefore(this.start);
  }

  get size(): number {
    return this.population.size;
  }

  /** createdAt is non-decreasing with the index, so a binary search finds the split. */
  private countCreatedBefore(t: number): number {
    let lo = 0;
    let hi = this.population.size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.population.account(mid).createdAt <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  isDiscoverable(index: number): boolean {
    const a = this.population.account(index);
    const phone = a.contactPoints[0];
    return a.status === 'active' && !!phone && phone.verified && phone.purposes.includes('discovery');
  }

  /**
   * The account's address book: a log-normal number of entries (median and cap from the
   * scenario), a share of them accounts near it in the population's region-grouped order (so
   * friends' books overlap), the rest numbers of people not on the platform. Some entries are
   * written in national format, as phones store them.
   */
  book(index: number): string[] {
    const cached = this.books.get(index);
    if (cached) return cached;
    const book = this.makeBook(index);
    // Users act in bursts (a warm-up, then syncs and lookups): a small cache saves regenerating.
    if (this.books.size >= 5000) this.books.delete(this.books.keys().next().value!);
    this.books.set(index, book);
    return book;
  }

  private makeBook(index: number): string[] {
    const o = this.organic;
    const rng = rngFor(this.spec.seed, 0xb00c, index);
    const size = Math.max(1, Math.min(o.bookMax, Math.round(o.bookMedian * Math.exp(1.1 * normal(rng)))));
    const region = this.population.regionOf(index);
    const [lo, hi] = this.population.regionRange(region)!;
    const me = this.population.position(index);
    const blocks = this.strangerBlocks(region);
    const entries = new Set<string>();
    for (let k = 0; k < size * 2 && entries.size < size; k++) {
      let phone: string;
      if (rng.float() < o.memberShare && hi - lo > 1) {
        // Log-uniform distance: mostly close friends, a long tail of acquaintances.
        const dist = Math.max(1, Math.floor(Math.exp(rng.float() * Math.log(Math.max(2, Math.min(50_000, hi - lo))))));
        let p = me + (rng.float() < 0.5 ? -dist : dist);
        if (p < lo) p = lo + ((lo - p) % (hi - lo));
        if (p >= hi) p = hi - 1 - ((p - hi) % (hi - lo));
        const friend = this.population.indexAt(p);
        if (friend === index) continue;
        phone = this.population.phoneOf(friend);
      } else {
        const block = blocks[rng.int(blocks.length)]!;
        phone = block + String(rng.int(10_000)).padStart(4, '0');
      }
      entries.add(phone);
    }
    return [...entries];
  }

  /**
   * Where the numbers of people not on the platform come from: the country's mobile space at
   * large, not only the few blocks the platform's users happen to live in (with a small
   * population that is one or two blocks, and a big book of strangers would look like a scan).
   */
  private strangerBlocks(region: string): readonly string[] {
    let blocks = this.strangers.get(region);
    if (!blocks) {
      const own = this.population.blocks(region);
      blocks = discoverBlocks(region, Math.max(STRANGER_BLOCKS, own.length));
      if (blocks.length < own.length) blocks = own;
      this.strangers.set(region, blocks);
    }
    return blocks;
  }

  /** The account's usual connection: carrier NAT (shared IPv4) or its own IPv6 /64, and its device. */
  home(index: number): Connection {
    const a = this.population.account(index);
    const region = a.phoneRegion;
    const o = this.organic;
    const h = mix(this.spec.seed, 0x40e, index);
    // Shared family devices: an account can use its neighbour's installation.
    const deviceOwner = (h % 10_000) / 10_000 < o.sharedDeviceShare && index > 0 ? index - 1 : index;
    const deviceId = this.population.account(deviceOwner).signup.deviceId;
    const carriers = this.carriersOf(region);
    if (carriers.length === 0) return { ip: this.ips.inCountry(region, 'residential', 4, rngFor(this.spec.seed, index)), deviceId };
    const carrier = carriers[h % carriers.length]!;
    if (((h >>> 8) % 10_000) / 10_000 < o.ipv6Share) {
      try {
        return { ip: this.ips.inAsn(carrier.asn, 6, rngFor(this.spec.seed, 0x6, index)), deviceId };
      } catch {
        // This carrier has no IPv6 allocation: its users stay on the NAT'd IPv4 below.
      }
    }
    const pool = Math.max(1, Math.ceil(this.existing / Math.max(1, carriers.length) / o.accountsPerCgnatIp));
    const slot = (h >>> 4) % pool;
    const key = `${carrier.asn}:${slot}`;
    let ip = this.cgnat.get(key);
    if (!ip) {
      ip = this.ips.inAsn(carrier.asn, 4, rngFor(this.spec.seed, 0xc6, carrier.asn, slot));
      this.cgnat.set(key, ip);
    }
    return { ip, deviceId };
  }

  /** The connection for one session: home, or abroad for travellers. */
  session(index: number, sessionSeed: number): Connection {
    const home = this.home(index);
    const rng = rngFor(this.spec.seed, 0x7a, index, sessionSeed);
    if (rng.float() >= this.organic.travellerShare) return home;
    const countries = ['US', 'GB', 'DE', 'FR', 'ES', 'IT', 'TR', 'AE', 'TH', 'MX'];
    return { ip: this.ips.inCountry(countries[rng.int(countries.length)]!, 'residential', 4, rng), deviceId: home.deviceId };
  }

  private carriersOf(region: string): Array<{ asn: number; name: string }> {
    let c = this.carriers.get(region);
    if (!c) {
      c = this.ips.topAsns(region, 'residential', 4);
      this.carriers.set(region, c);
    }
    return c;
  }
}

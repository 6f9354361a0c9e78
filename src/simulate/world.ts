import { discoverBlocks, Population, type SyntheticAccount } from '../population/index.js';
import { SeededRandom } from '../util/random.js';
import { organicWithDefaults, type FullOrganicSpec, type ScenarioSpec } from './scenario.js';

const DAY = 86_400_000;
/** Mobile number blocks per country that strangers' numbers in address books are drawn from. */
const STRANGER_BLOCKS = 200;

/** Where simulated addresses come from: real allocations of a country or network. */
export interface IpSource {
  inCountry(country: string, kind: 'hosting' | 'residential', version: 4 | 6, rng: SeededRandom): string;
  inAsn(asn: number, version: 4 | 6, rng: SeededRandom): string;
  topAsns(country: string, kind: 'hosting' | 'residential', n: number): Array<{ asn: number; name: string }>;
  /** The origin network of an address, undefined when it is not routed. */
  asnOf(ip: string): number | undefined;
}

import { mix, normal, rngFor } from './hash.js';
import { profileOf, SIMULATION_COUNTRIES, type InternationalOptions, type OrganicProfile } from './international.js';

export { mix, normal, rngFor };

/** Share of discoverable users in "my contacts" mode when the scenario does not say. */
export const DEFAULT_CONTACTS_SHARE = 0.05;

export interface Connection {
  ip: string;
  deviceId: string;
}

/** Carrier NAT addresses of one pool in a /24 (a power of two, so a run never crosses the /24). */
const CGNAT_PER_24 = 16;

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
  private readonly organic: FullOrganicSpec;
  private readonly intl: InternationalOptions;
  /** Accounts that exist in the generator before the start but join during a launch-day surge, by index. */
  private readonly surge = new Map<number, number>();
  /** Carrier NAT addresses by carrier and slot, VPN egresses by country and slot. */
  private readonly sharedAddresses = new Map<string, string>();
  private readonly present = new Map<string, number>();
  private readonly carriers = new Map<string, Array<{ asn: number; name: string }>>();
  private readonly books = new Map<number, string[]>();
  private readonly strangers = new Map<string, readonly string[]>();

  constructor(
    readonly spec: ScenarioSpec,
    private readonly ips: IpSource,
  ) {
    this.start = Date.parse(spec.start);
    this.end = this.start + spec.days * DAY;
    this.organic = organicWithDefaults(spec.organic);
    this.intl = { scale: this.organic.internationalScale, borderShare: this.organic.borderShare, familyAbroadShare: this.organic.familyAbroadShare };
    // The generator's growth curve (25x over 8 years) gives the share that joins during the run.
    const growthPerDay = Math.log(25) / (8 * 365);
    const total = Math.ceil(spec.population.accounts * (1 + growthPerDay * spec.days)) + 1;
    this.population = new Population({
      seed: spec.seed,
      accounts: total,
      now: this.end,
      discoverableShare: spec.population.discoverableShare,
      occupancy: spec.population.occupancy,
      countries: [...SIMULATION_COUNTRIES],
    });
    this.existing = this.countCreatedBefore(this.start);
    this.planSurge();
  }

  /**
   * Launch day: the surge country's accounts the generator dates before the start are not there
   * yet; they arrive within the surge's days, most of them early (arrival at overDays * u^2) or, in
   * a ramp, most of them late (overDays * sqrt(u)).
   */
  private planSurge(): void {
    const s = this.organic.surge;
    if (!s) return;
    const from = this.start + s.startDay * DAY;
    for (let i = 0; i < this.existing; i++) {
      if (this.population.regionOf(i) !== s.country) continue;
      const u = (mix(this.spec.seed, 0x5e6e, i) % 1_000_000) / 1_000_000;
      const at = s.shape === 'ramp' ? Math.sqrt(u) : u * u;
      this.surge.set(i, from + Math.floor(at * s.overDays * DAY));
    }
  }

  /** When an account of the launch-day surge joins; undefined for everyone else. */
  joinsInSurge(index: number): number | undefined {
    return this.surge.get(index);
  }

  /** Accounts of the surge, in index order. */
  surgeAccounts(): IterableIterator<[number, number]> {
    return this.surge.entries();
  }

  /** Accounts present before the start (seeded into the directory), surge arrivals excluded. */
  presentAtStart(index: number): boolean {
    return index < this.existing && !this.surge.has(index);
  }

  /** What kind of user an account is, and how its book spreads over countries. */
  profile(index: number): OrganicProfile {
    return profileOf(this.spec.seed, index, this.population.regionOf(index), this.intl);
  }

  /** Devices the person uses (a phone, and for some a second phone or a tablet that syncs too). */
  devices(index: number): number {
    const u = (mix(this.spec.seed, 0xde5, index) % 1_000_000) / 1_000_000;
    return u < this.organic.thirdDeviceShare ? 3 : u < this.organic.thirdDeviceShare + this.organic.secondDeviceShare ? 2 : 1;
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

  /**
   * Discoverable by anyone who asks, at the start (launch-day arrivals are not there yet; "my
   * contacts" users never are): what attackers' target sets count.
   */
  isDiscoverable(index: number): boolean {
    if (this.surge.has(index)) return false;
    return this.discoveryPhone(index) && !this.contactsMode(index);
  }

  private discoveryPhone(index: number): boolean {
    const a = this.population.account(index);
    const phone = a.contactPoints[0];
    return a.status === 'active' && !!phone && phone.verified && phone.purposes.includes('discovery');
  }

  /**
   * A share of the users with a discoverable phone keep it to "my contacts" (the scenario's
   * population.contactsShare, default 5%): found only by callers in their own latest synced book.
   * An independent draw, so nothing else about the population moves with the share.
   */
  contactsMode(index: number): boolean {
    const share = this.spec.population.contactsShare ?? DEFAULT_CONTACTS_SHARE;
    return share > 0 && (mix(this.spec.seed, 0xc0c7, index) % 1_000_000) / 1_000_000 < share && this.discoveryPhone(index);
  }

  /** The account as the app mirrors it (seed lines, sign-ups): its phone in "my contacts" mode where contactsMode says. */
  account(index: number): SyntheticAccount {
    const a = this.population.account(index);
    if (!this.contactsMode(index)) return a;
    const [phone, ...rest] = a.contactPoints;
    return { ...a, contactPoints: [{ ...phone!, discoverableBy: 'contacts' }, ...rest] };
  }

  /**
   * The account's address book: a log-normal number of entries (median and cap from the
   * scenario), split over countries by the account's profile (domestic, or international:
   * see international.ts). In each country a share of the entries are accounts near a point of
   * that country's region-grouped order (its own position at home, a hashed one abroad, so
   * friends' books overlap), the rest numbers of people not on the platform.
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
    const home = this.population.regionOf(index);
    const entries = new Set<string>();
    const { segments } = this.profile(index);
    let target = 0;
    for (let s = 0; s < segments.length; s++) {
      const seg = segments[s]!;
      // Cumulative rounding: the segments' sizes add up to the book's size exactly.
      target = s === segments.length - 1 ? size : Math.min(size, Math.round(target + seg.share * size));
      const range = this.population.regionRange(seg.region);
      const me = seg.region === home ? this.population.position(index) : range ? range[0] + (mix(this.spec.seed, 0xa7c, index, s) % (range[1] - range[0])) : 0;
      const blocks = this.strangerBlocks(seg.region);
      // A country without a numbering plan to draw from: the next segment makes up its share.
      if (blocks.length === 0 && !range) continue;
      for (let k = 0; k < size * 4 && entries.size < target; k++) {
        let phone: string;
        if (range && range[1] - range[0] > 1 && rng.float() < o.memberShare) {
          const [lo, hi] = range;
          // Log-uniform distance: mostly close friends, a long tail of acquaintances.
          const dist = Math.max(1, Math.floor(Math.exp(rng.float() * Math.log(Math.max(2, Math.min(50_000, hi - lo))))));
          let p = me + (rng.float() < 0.5 ? -dist : dist);
          if (p < lo) p = lo + ((lo - p) % (hi - lo));
          if (p >= hi) p = hi - 1 - ((p - hi) % (hi - lo));
          const friend = this.population.indexAt(p);
          if (friend === index) continue;
          phone = this.population.phoneOf(friend);
        } else {
          if (blocks.length === 0) continue;
          const block = blocks[rng.int(blocks.length)]!;
          phone = block + String(rng.int(10_000)).padStart(4, '0');
        }
        entries.add(phone);
      }
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

  /**
   * A number of this country no account of the population holds (a block outside theirs), for
   * fake accounts that bring a phone of their own. Deterministic in (region, n).
   */
  freshNumber(region: string, n: number, salt: number): string {
    const own = new Set(this.population.blocks(region));
    const free = this.strangerBlocks(region).filter((b) => !own.has(b));
    if (free.length === 0) throw new Error(`no free number block in ${region} for a fake account's phone`);
    // Distinct n, distinct numbers: 7919 is prime to 10,000, so suffixes do not repeat in a block.
    const h = mix(this.spec.seed, 0xf8e5, salt);
    const block = (h + Math.floor(n / 10_000)) % free.length;
    return free[block]! + String((n * 7919 + (h >>> 8)) % 10_000).padStart(4, '0');
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
    if (this.onVpn(index)) return { ip: this.vpnAddress(region, h), deviceId };
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
    // Sized per country, so that each of its carriers' addresses carries about accountsPerCgnatIp of
    // the country's IPv4 users (a pool sized from the whole population put a small country's users a
    // few to an address, and a launch never met a shared address at the density carriers run).
    const v4Users = this.presentIn(region) * (1 - o.ipv6Share);
    const pool = Math.max(1, Math.ceil(v4Users / carriers.length / o.accountsPerCgnatIp));
    const slot = (h >>> 4) % pool;
    const key = `${carrier.asn}:${slot}`;
    let ip = this.sharedAddresses.get(key);
    if (!ip) {
      // A carrier's NAT pool is a run of consecutive addresses: CGNAT_PER_24 slots share a /24,
      // so its subnet carries their users together, as a real pool's does.
      const run = slot - (slot % CGNAT_PER_24);
      const first = this.ips.inAsn(carrier.asn, 4, rngFor(this.spec.seed, 0xc6, carrier.asn, run));
      const octets = first.split('.').map(Number);
      octets[3] = octets[3]! - (octets[3]! % CGNAT_PER_24) + (slot % CGNAT_PER_24);
      const next = octets.join('.');
      // A prefix smaller than a /24 can belong to another network: then this slot keeps its own draw.
      ip = this.ips.asnOf(next) === carrier.asn ? next : this.ips.inAsn(carrier.asn, 4, rngFor(this.spec.seed, 0xc6, carrier.asn, slot));
      this.sharedAddresses.set(key, ip);
    }
    return { ip, deviceId };
  }

  /** The connection for one session on one of the person's devices: home, or abroad for travellers. */
  session(index: number, sessionSeed: number, device = 0): Connection {
    const usual = this.home(index);
    // A person's other devices sit on the same networks under their own installation ids.
    const home = device === 0 ? usual : { ip: usual.ip, deviceId: `${usual.deviceId}-${device}` };
    const rng = rngFor(this.spec.seed, 0x7a, index, sessionSeed);
    // The VPN stays on abroad too.
    if (rng.float() >= this.organic.travellerShare || this.onVpn(index)) return home;
    const countries = ['US', 'GB', 'DE', 'FR', 'ES', 'IT', 'TR', 'AE', 'TH', 'MX'];
    return { ip: this.ips.inCountry(countries[rng.int(countries.length)]!, 'residential', 4, rng), deviceId: home.deviceId };
  }

  /** The person keeps a commercial VPN on (vpnShare). */
  onVpn(index: number): boolean {
    return (mix(this.spec.seed, 0x7e9, index) % 10_000) / 10_000 < this.organic.vpnShare;
  }

  /**
   * A commercial VPN's egress for an always-on user: a hosting address of their country (or of a VPN
   * hub), shared with about vpnUsersPerEgress of the country's other VPN users, as an egress is.
   */
  private vpnAddress(region: string, h: number): string {
    const o = this.organic;
    const pool = Math.max(1, Math.ceil((this.presentIn(region) * o.vpnShare) / o.vpnUsersPerEgress));
    const slot = (h >>> 6) % pool;
    const key = `vpn:${region}:${slot}`;
    let ip = this.sharedAddresses.get(key);
    if (!ip) {
      const rng = rngFor(this.spec.seed, 0x7e9, region.charCodeAt(0), region.charCodeAt(1), slot);
      try {
        ip = this.ips.inCountry(region, 'hosting', 4, rng);
      } catch {
        // No hosting space of that country in the data: VPNs egress from hubs such as the Netherlands.
        ip = this.ips.inCountry('NL', 'hosting', 4, rng);
      }
      this.sharedAddresses.set(key, ip);
    }
    return ip;
  }

  /** Accounts of the region created before the start (the launch-day surge's included). */
  private presentIn(region: string): number {
    if (this.present.size === 0) {
      for (const r of this.population.regionInfo()) this.present.set(r.region, Math.round((r.accounts * this.existing) / Math.max(1, this.population.size)));
    }
    return this.present.get(region) ?? 0;
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

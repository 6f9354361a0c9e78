/**
 * Deterministic synthetic population with random access by account index.
 *
 * index i --P_index--> j in [0, N): contiguous ranges of j are the countries (sized by weight), so
 * countries are spread over indices (and therefore over creation dates) while each keeps an exact
 * account count. r = j - start(country) --P_country--> a slot in that country's blocks x 10,000
 * numbers; the slot is the phone. Both steps are keyed Feistel permutations (see permutation.ts),
 * so phoneOf is a few dozen integer ops, numbers are unique by construction, and ownerOf just runs
 * the permutations backwards. Everything else about an account comes from a SeededRandom seeded
 * by hash(key, i), so account(i) never depends on other accounts.
 */
import { SeededRandom } from '../util/random.js';
import { BLOCK_SIZE, discoverBlocks, supportsRegion } from './blocks.js';
import { FeistelPermutation, hash2, hashString } from './permutation.js';
import {
  DEFAULT_COUNTRIES,
  apportion,
  creationTime,
  makeEmailPoint,
  makeHandle,
  makePhonePoint,
  makeSignup,
  type ContactShares,
} from './attributes.js';
import type { PopulationOptions, RegionInfo, SyntheticAccount, SyntheticContactPoint } from './types.js';

const YEAR_MS = 365.25 * 24 * 3600 * 1000;

interface RegionEntry {
  region: string;
  start: number;
  count: number;
  blocks: readonly string[];
  perm: FeistelPermutation;
}

function share(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be within [0, 1], got ${v}`);
  return v;
}

export class Population {
  readonly size: number;
  readonly seed: number;
  readonly now: number;
  private readonly historyYears: number;
  private readonly suspendedShare: number;
  private readonly shares: ContactShares;
  private readonly indexPerm: FeistelPermutation;
  private readonly handlePerm: FeistelPermutation;
  private readonly attrKey: number;
  /** Regions with at least one account, ordered by their range of j. */
  private readonly regions: RegionEntry[];
  private readonly starts: Float64Array;
  private readonly byRegion = new Map<string, RegionEntry>();
  /** E.164 block prefix -> (region entry, block number), for ownerOf. */
  private readonly byPrefix = new Map<string, { entry: RegionEntry; block: number }>();

  constructor(opts: PopulationOptions) {
    const { seed, accounts, now } = opts;
    if (!Number.isSafeInteger(accounts) || accounts < 0) throw new RangeError(`accounts must be a non-negative integer, got ${accounts}`);
    if (!Number.isFinite(now)) throw new RangeError('now must be epoch milliseconds');
    this.size = accounts;
    this.seed = seed;
    this.now = now;
    this.historyYears = opts.historyYears ?? 8;
    if (!(this.historyYears > 0)) throw new RangeError('historyYears must be positive');
    const discoverable = share('discoverableShare', opts.discoverableShare, 0.6);
    this.shares = {
      discoverable,
      twoFactorOnly: Math.min(share('twoFactorOnlyShare', opts.twoFactorOnlyShare, 0.15), 1 - discoverable),
      email: share('emailShare', opts.emailShare, 0.3),
    };
    this.suspendedShare = share('suspendedShare', opts.suspendedShare, 0.005);
    const occupancy = share('occupancy', opts.occupancy, 0.35);
    if (occupancy === 0) throw new RangeError('occupancy must be > 0');

    // Keys come from the injected deterministic source; derived ones hash in the region code so
    // adding a country to the list doesn't move the numbers of the others.
    const master = new SeededRandom(seed);
    const key = (): number => master.bytes(4).readUInt32LE(0);
    const indexKey = key();
    const handleKey = key();
    this.attrKey = key();
    const regionKey = key();
    // A permutation needs a non-empty domain; with 0 accounts it is never consulted.
    this.indexPerm = new FeistelPermutation(Math.max(1, accounts), indexKey);
    this.handlePerm = new FeistelPermutation(Math.max(1, accounts), handleKey);

    const countries = opts.countries ?? DEFAULT_COUNTRIES;
    const seen = new Set<string>();
    for (const c of countries) {
      if (seen.has(c.region)) throw new Error(`country ${c.region} listed twice`);
      seen.add(c.region);
      if (!(c.weight >= 0)) throw new RangeError(`weight of ${c.region} must be >= 0`);
      if (!supportsRegion(c.region)) throw new Error(`unsupported region ${c.region}: no example mobile number`);
    }
    const counts = apportion(accounts, countries.map((c) => c.weight));
    this.regions = [];
    let start = 0;
    countries.forEach((c, k) => {
      const count = counts[k]!;
      if (count === 0) return;
      const wanted = Math.ceil(count / (occupancy * BLOCK_SIZE));
      const blocks = discoverBlocks(c.region, wanted, opts.blockSeed ?? 0);
      if (blocks.length * BLOCK_SIZE < count) {
        throw new Error(`region ${c.region}: found only ${blocks.length} mobile blocks, too few for ${count} accounts`);
      }
      const perm = new FeistelPermutation(blocks.length * BLOCK_SIZE, hash2(regionKey, hashString(c.region)));
      const entry: RegionEntry = { region: c.region, start, count, blocks, perm };
      this.regions.push(entry);
      this.byRegion.set(c.region, entry);
      blocks.forEach((prefix, block) => this.byPrefix.set(prefix, { entry, block }));
      start += count;
    });
    this.starts = Float64Array.from(this.regions, (r) => r.start);
  }

  account(index: number): SyntheticAccount {
    this.checkIndex(index);
    const { entry, rank } = this.locate(index);
    const phone = this.phoneFor(entry, rank);
    const rng = new SeededRandom(hash2(this.attrKey, index) | 0);
    // Draw order is part of the format: append new draws at the end to keep old populations stable.
    const createdAt = creationTime(index, this.size, rng.float(), this.now, this.historyYears);
    const suspended = rng.float() < this.suspendedShare;
    const phonePoint = makePhonePoint(rng, phone, this.shares);
    const handle = makeHandle(rng, this.handlePerm.forward(index) + 1);
    const email = makeEmailPoint(rng, handle, this.shares);
    const signup = makeSignup(rng, (createdAt - (this.now - this.historyYears * YEAR_MS)) / YEAR_MS);
    const contactPoints: SyntheticContactPoint[] = email ? [phonePoint, email] : [phonePoint];
    return {
      index,
      id: accountId(index),
      handle,
      createdAt,
      phoneRegion: entry.region,
      status: suspended ? 'suspended' : 'active',
      signup,
      contactPoints,
    };
  }

  *accounts(): Generator<SyntheticAccount> {
    for (let i = 0; i < this.size; i++) yield this.account(i);
  }

  phoneOf(index: number): string {
    this.checkIndex(index);
    const { entry, rank } = this.locate(index);
    return this.phoneFor(entry, rank);
  }

  /** ISO region of account i's phone, without building the account. */
  regionOf(index: number): string {
    this.checkIndex(index);
    return this.locate(index).entry.region;
  }

  /**
   * The number blocks (E.164 without the last 4 digits) the population's phones live in. Only
   * regions with accounts have blocks; without `region`, all regions in country-list order.
   */
  blocks(region?: string): string[] {
    if (region !== undefined) return [...(this.byRegion.get(region)?.blocks ?? [])];
    return this.regions.flatMap((r) => r.blocks);
  }

  /** Per-region account counts, blocks and real occupancy (what a sequential scan would hit). */
  regionInfo(): RegionInfo[] {
    return this.regions.map((r) => ({
      region: r.region,
      accounts: r.count,
      blocks: [...r.blocks],
      capacity: r.perm.size,
      occupancy: r.count / r.perm.size,
    }));
  }

  /** The region whose number blocks hold this number, or undefined outside the population's blocks. */
  regionOfNumber(e164: string): string | undefined {
    return this.byPrefix.get(e164.slice(0, -4))?.entry.region;
  }

  ownerOf(e164: string): number | undefined {
    if (e164.length < 6) return undefined;
    const hit = this.byPrefix.get(e164.slice(0, -4));
    if (!hit) return undefined;
    const suffix = e164.slice(-4);
    if (!/^\d{4}$/.test(suffix)) return undefined;
    const rank = hit.entry.perm.inverse(hit.block * BLOCK_SIZE + Number(suffix));
    if (rank >= hit.entry.count) return undefined;
    return this.indexPerm.inverse(hit.entry.start + rank);
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new RangeError(`account index ${index} outside [0, ${this.size})`);
    }
  }

  /**
   * The account's position in the population's region-grouped order: positions of one region are
   * contiguous, so neighbours in position are compatriots (the simulator's social graph uses it).
   */
  position(index: number): number {
    this.checkIndex(index);
    return this.indexPerm.forward(index);
  }

  /** Inverse of position(). */
  indexAt(position: number): number {
    if (!Number.isInteger(position) || position < 0 || position >= this.size) throw new RangeError('position out of range');
    return this.indexPerm.inverse(position);
  }

  /** The [start, end) positions of a region. */
  regionRange(region: string): [number, number] | undefined {
    const e = this.byRegion.get(region);
    return e ? [e.start, e.start + e.count] : undefined;
  }

  private locate(index: number): { entry: RegionEntry; rank: number } {
    const j = this.indexPerm.forward(index);
    // Last region whose start <= j (regions are few; binary search keeps it O(log R) anyway).
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= j) lo = mid;
      else hi = mid - 1;
    }
    const entry = this.regions[lo]!;
    return { entry, rank: j - entry.start };
  }

  private phoneFor(entry: RegionEntry, rank: number): string {
    const slot = entry.perm.forward(rank);
    const block = Math.floor(slot / BLOCK_SIZE);
    const suffix = slot - block * BLOCK_SIZE;
    return entry.blocks[block]! + String(suffix).padStart(4, '0');
  }
}

/** Stable account id; zero-padded to 6 digits so small populations sort naturally. */
export function accountId(index: number): string {
  return `acct-${String(index).padStart(6, '0')}`;
}

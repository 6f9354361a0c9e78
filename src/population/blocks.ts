/**
 * Discovery of valid mobile number blocks (10,000 numbers sharing everything but the last 4 digits).
 *
 * Numbering plans only say which prefixes are mobile as regular expressions inside libphonenumber's
 * metadata; enumerating them is not an API. So we start from the library's example mobile number
 * for a region and random-walk over its prefix digits, keeping a candidate block only if every
 * sampled number in it is a valid mobile of that same region. Validation with the max metadata
 * costs ~20 µs a number, which is why results are cached per region and grown on demand.
 */
import { parsePhoneNumberFromString, getCountryCallingCode, type CountryCode } from 'libphonenumber-js/max';
import examples from 'libphonenumber-js/mobile/examples';
import { SeededRandom } from '../util/random.js';
import { hashString } from './permutation.js';

export const BLOCK_SIZE = 10_000;
const SUFFIX_DIGITS = 4;
/** Random suffixes tested per candidate besides 0000 and 9999. */
const RANDOM_SAMPLES = 6;

/** True if e164 is a valid mobile (or fixed-line-or-mobile) number of exactly this region, in canonical form. */
export function isValidMobile(e164: string, region?: string): boolean {
  const pn = parsePhoneNumberFromString(e164);
  if (!pn || pn.number !== e164 || !pn.isValid()) return false;
  if (region !== undefined && pn.country !== region) return false;
  const type = pn.getType();
  return type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE';
}

/** Regions for which block discovery can start (they have an example mobile number). */
export function supportsRegion(region: string): boolean {
  return Object.prototype.hasOwnProperty.call(examples, region);
}

class RegionBlockSource {
  /** E.164 prefixes ("+<cc><national digits minus last 4>"), in discovery order. */
  readonly blocks: string[] = [];
  private readonly national: string[] = [];
  private readonly tried = new Set<string>();
  private readonly rng: SeededRandom;
  private readonly cc: string;
  private readonly seedPrefix: string;
  private exhausted = false;

  constructor(readonly region: string, blockSeed: number) {
    const example = (examples as Record<string, string | undefined>)[region];
    if (example === undefined || example.length <= SUFFIX_DIGITS) throw new Error(`no example mobile number for region ${region}`);
    this.cc = getCountryCallingCode(region as CountryCode);
    this.seedPrefix = example.slice(0, -SUFFIX_DIGITS);
    this.rng = new SeededRandom((hashString(region) ^ blockSeed) | 0);
  }

  ensure(count: number): void {
    if (this.blocks.length === 0 && !this.exhausted) this.consider(this.seedPrefix);
    // A generous failure budget: dense plans accept most candidates, sparse ones (small countries) need more tries.
    let failures = 0;
    const budget = 5_000 + 200 * count;
    while (this.blocks.length < count && !this.exhausted) {
      if (!this.consider(this.mutate())) failures++;
      if (failures > budget) this.exhausted = true;
    }
  }

  /** A neighbour of an already accepted block: blocks cluster the way operators' allocations do. */
  private mutate(): string {
    const base = this.national.length > 0 ? this.national[this.rng.int(this.national.length)]! : this.seedPrefix;
    const digits = base.split('');
    const changes = this.rng.float() < 0.7 ? 1 : 2;
    for (let c = 0; c < changes; c++) {
      // Leading digits mostly pick the service type, so change them less often.
      const pos = this.rng.float() < 0.15 ? this.rng.int(digits.length) : digits.length - 1 - this.rng.int(Math.min(4, digits.length));
      digits[pos] = String(this.rng.int(10));
    }
    return digits.join('');
  }

  private consider(prefix: string): boolean {
    if (this.tried.has(prefix)) return false;
    this.tried.add(prefix);
    const e164Prefix = `+${this.cc}${prefix}`;
    const samples = ['0000', '9999'];
    for (let s = 0; s < RANDOM_SAMPLES; s++) samples.push(String(this.rng.int(BLOCK_SIZE)).padStart(SUFFIX_DIGITS, '0'));
    for (const suffix of samples) if (!isValidMobile(e164Prefix + suffix, this.region)) return false;
    this.national.push(prefix);
    this.blocks.push(e164Prefix);
    return true;
  }
}

const cache = new Map<string, RegionBlockSource>();

/**
 * The first `count` mobile blocks of a region, as E.164 prefixes. Deterministic for (region, blockSeed);
 * a smaller count is always a prefix of a larger one, so one cached walk per region serves every
 * population size. Returns fewer than `count` only if the walk could not find more.
 */
export function discoverBlocks(region: string, count: number, blockSeed = 0): readonly string[] {
  const key = `${region}:${blockSeed | 0}`;
  let source = cache.get(key);
  if (!source) {
    source = new RegionBlockSource(region, blockSeed | 0);
    cache.set(key, source);
  }
  source.ensure(count);
  return source.blocks.slice(0, count);
}

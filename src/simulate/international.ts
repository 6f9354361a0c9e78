/**
 * Organic users as they are: who among a country's residents was born elsewhere, studies there,
 * lives near a border or has family abroad, and therefore keeps an address book spread over
 * several countries. Pure functions of (seed, account index, region): nothing is stored.
 *
 * Sources (shares of the resident population born abroad, "international migrant stock"):
 *  - UN DESA, International Migrant Stock 2024 (https://www.un.org/development/desa/pd/content/international-migrant-stock):
 *    world 3.7%; UAE 88%, Qatar 77%, Kuwait 73%, Singapore 43%, Switzerland 30%, Australia 30%,
 *    Canada 22%, Germany 19%, United States 15%, United Kingdom 14%.
 *  - The other countries' shares and every country's main origins are rounded from the same
 *    series (2020 and 2024 revisions) as recalled when this table was written, not re-read from
 *    the data file: treat them as +-20% of the published figure. The model needs the order of
 *    magnitude (0.1% in Indonesia, 88% in the UAE), not the decimals.
 *  - International students: UNESCO UIS inbound mobile students, as a share of residents, rounded.
 *  - Border regions, family abroad, devices and reinstalls are modelling assumptions, stated with
 *    their values in DEFAULT_ORGANIC; they are not statistics.
 */
import { DEFAULT_COUNTRIES, type CountryWeight } from '../population/index.js';
import type { SeededRandom } from '../util/random.js';
import { mix, rngFor } from './hash.js';

type Weights = ReadonlyArray<readonly [string, number]>;

export interface Residence {
  /** Share of residents born in another country. */
  migrants: number;
  /** Share of residents who are international students (counted among the migrants). */
  students?: number;
  /** Main countries of birth of the migrants, weighted; the remainder comes from OTHER_ORIGINS. */
  origins: Weights;
  /** Countries across a land border where daily life happens (shopping, work, family). */
  neighbours?: readonly string[];
}

/** Per residence country (the account's phone country). */
export const MIGRATION: Readonly<Record<string, Residence>> = {
  IN: { migrants: 0.004, origins: [['BD', 0.6], ['PK', 0.2], ['NP', 0.1], ['LK', 0.05]], neighbours: ['NP', 'BD'] },
  US: { migrants: 0.15, students: 0.003, origins: [['MX', 0.23], ['IN', 0.06], ['CN', 0.05], ['PH', 0.045], ['SV', 0.03], ['VN', 0.03], ['CU', 0.03], ['DO', 0.03], ['KR', 0.02], ['GT', 0.02], ['CO', 0.02], ['GB', 0.015]], neighbours: ['MX'] },
  BR: { migrants: 0.005, origins: [['VE', 0.3], ['PT', 0.1], ['BO', 0.08], ['JP', 0.05], ['AR', 0.04]], neighbours: ['PY', 'AR', 'UY'] },
  ID: { migrants: 0.001, origins: [['CN', 0.2], ['MY', 0.1], ['KR', 0.1], ['SG', 0.05]] },
  MX: { migrants: 0.009, origins: [['US', 0.7], ['GT', 0.06], ['VE', 0.04], ['CO', 0.03]], neighbours: ['US', 'GT'] },
  NG: { migrants: 0.006, origins: [['GH', 0.2], ['BJ', 0.2], ['NE', 0.15], ['CM', 0.1]], neighbours: ['BJ', 'NE', 'CM'] },
  PH: { migrants: 0.002, origins: [['US', 0.3], ['CN', 0.15], ['JP', 0.05]] },
  TR: { migrants: 0.07, origins: [['SY', 0.55], ['IQ', 0.1], ['BG', 0.1], ['DE', 0.05], ['AF', 0.05]], neighbours: ['SY', 'BG', 'GR', 'IR'] },
  GB: { migrants: 0.14, students: 0.01, origins: [['IN', 0.09], ['PL', 0.09], ['PK', 0.06], ['RO', 0.05], ['IE', 0.04], ['DE', 0.03], ['BD', 0.03], ['ZA', 0.02], ['CN', 0.02], ['NG', 0.02], ['IT', 0.02]], neighbours: ['IE'] },
  DE: { migrants: 0.19, students: 0.004, origins: [['PL', 0.1], ['TR', 0.1], ['RU', 0.07], ['SY', 0.06], ['KZ', 0.06], ['RO', 0.06], ['UA', 0.06], ['IT', 0.04], ['HR', 0.03], ['GR', 0.02]], neighbours: ['FR', 'CH', 'AT', 'PL', 'NL', 'DK', 'CZ', 'BE', 'LU'] },
  FR: { migrants: 0.13, students: 0.004, origins: [['DZ', 0.16], ['MA', 0.12], ['PT', 0.07], ['TN', 0.05], ['IT', 0.04], ['ES', 0.03], ['TR', 0.03]], neighbours: ['DE', 'ES', 'CH', 'BE', 'IT', 'LU'] },
  IR: { migrants: 0.032, origins: [['AF', 0.85], ['IQ', 0.1]], neighbours: ['IQ', 'TR', 'AF'] },
  PK: { migrants: 0.014, origins: [['AF', 0.8], ['IN', 0.15]], neighbours: ['AF'] },
  EG: { migrants: 0.005, origins: [['SD', 0.3], ['SY', 0.2], ['JO', 0.05]], neighbours: ['SD', 'LY'] },
  JP: { migrants: 0.023, students: 0.002, origins: [['CN', 0.3], ['KR', 0.2], ['VN', 0.15], ['PH', 0.1], ['BR', 0.05]] },
  IT: { migrants: 0.106, origins: [['RO', 0.2], ['AL', 0.08], ['MA', 0.08], ['UA', 0.05], ['CN', 0.05]], neighbours: ['CH', 'FR', 'AT'] },
  ES: { migrants: 0.15, origins: [['MA', 0.12], ['RO', 0.08], ['CO', 0.07], ['VE', 0.05], ['EC', 0.05], ['GB', 0.05], ['AR', 0.05]], neighbours: ['PT', 'FR'] },
  AR: { migrants: 0.048, origins: [['PY', 0.3], ['BO', 0.2], ['VE', 0.1], ['CL', 0.08], ['PE', 0.08]], neighbours: ['PY', 'BO', 'CL', 'UY', 'BR'] },
  MY: { migrants: 0.107, students: 0.004, origins: [['ID', 0.45], ['BD', 0.1], ['PH', 0.1], ['NP', 0.08], ['IN', 0.06]], neighbours: ['SG', 'TH'] },
  CA: { migrants: 0.22, students: 0.02, origins: [['IN', 0.12], ['CN', 0.09], ['PH', 0.09], ['GB', 0.06], ['US', 0.04], ['IT', 0.03], ['PK', 0.03]], neighbours: ['US'] },
  CO: { migrants: 0.05, origins: [['VE', 0.9]], neighbours: ['VE', 'EC'] },
  IL: { migrants: 0.19, origins: [['RU', 0.2], ['UA', 0.15], ['MA', 0.1], ['US', 0.05], ['ET', 0.05]] },
  AE: { migrants: 0.88, origins: [['IN', 0.38], ['PK', 0.13], ['BD', 0.1], ['PH', 0.07], ['EG', 0.06], ['LK', 0.03], ['NP', 0.03], ['GB', 0.02], ['JO', 0.02]], neighbours: ['OM', 'SA'] },
  SA: { migrants: 0.38, origins: [['IN', 0.2], ['PK', 0.15], ['BD', 0.15], ['EG', 0.1], ['ID', 0.07], ['PH', 0.05], ['YE', 0.05], ['SY', 0.05]], neighbours: ['AE', 'JO', 'KW', 'QA'] },
  QA: { migrants: 0.77, origins: [['IN', 0.3], ['NP', 0.15], ['BD', 0.13], ['PH', 0.1], ['EG', 0.08], ['LK', 0.05], ['PK', 0.05]], neighbours: ['SA'] },
  KW: { migrants: 0.73, origins: [['IN', 0.3], ['EG', 0.2], ['BD', 0.1], ['PH', 0.08], ['SY', 0.05], ['PK', 0.05], ['NP', 0.05]], neighbours: ['SA'] },
  SG: { migrants: 0.43, students: 0.01, origins: [['MY', 0.45], ['CN', 0.18], ['IN', 0.07], ['ID', 0.06], ['PH', 0.03], ['HK', 0.03]], neighbours: ['MY'] },
  CH: { migrants: 0.3, students: 0.005, origins: [['DE', 0.18], ['IT', 0.13], ['PT', 0.11], ['FR', 0.08], ['TR', 0.03], ['ES', 0.03], ['GB', 0.02], ['AT', 0.02]], neighbours: ['DE', 'FR', 'IT', 'AT'] },
  AU: { migrants: 0.3, students: 0.025, origins: [['GB', 0.16], ['IN', 0.11], ['CN', 0.09], ['NZ', 0.08], ['PH', 0.05], ['VN', 0.04], ['ZA', 0.03], ['MY', 0.02], ['IT', 0.02], ['LK', 0.02]] },
};

/** Where origins outside a country's main list come from: the largest emigration countries. */
const OTHER_ORIGINS: Weights = [['IN', 5], ['MX', 3], ['RU', 3], ['CN', 3], ['SY', 2], ['BD', 2], ['PK', 2], ['UA', 2], ['PH', 2], ['AF', 1], ['VE', 1], ['PL', 1], ['EG', 1], ['NG', 1], ['ID', 1]];
/** Where friends who moved on, and classmates' families, live: the largest destinations. */
const DESTINATIONS: Weights = [['US', 5], ['DE', 2], ['SA', 2], ['GB', 1.5], ['FR', 1.3], ['CA', 1.2], ['AU', 1], ['ES', 1], ['IT', 1], ['AE', 1], ['TR', 1], ['MY', 0.5], ['SG', 0.3], ['JP', 0.5], ['CH', 0.3]];

/**
 * The simulator's population: findguard's default countries plus those where most residents were
 * born abroad (and Australia, Switzerland, Saudi Arabia), weighted roughly by a global messaging
 * app's users there.
 */
export const SIMULATION_COUNTRIES: readonly CountryWeight[] = Object.freeze([
  ...DEFAULT_COUNTRIES,
  { region: 'SA', weight: 1.2 },
  { region: 'AU', weight: 1.2 },
  { region: 'AE', weight: 0.6 },
  { region: 'CH', weight: 0.4 },
  { region: 'SG', weight: 0.3 },
  { region: 'KW', weight: 0.25 },
  { region: 'QA', weight: 0.15 },
]);

export type OrganicKind = 'domestic' | 'family-abroad' | 'border' | 'migrant' | 'student';
export const ORGANIC_KINDS: readonly OrganicKind[] = ['domestic', 'family-abroad', 'border', 'migrant', 'student'];

/** One country's part of an address book. */
export interface BookSegment {
  region: string;
  share: number;
}

export interface OrganicProfile {
  kind: OrganicKind;
  /** Shares of the address book by country (the residence first); they sum to 1. */
  segments: BookSegment[];
}

export interface InternationalOptions {
  /** Multiplies every migrant and student share (0: everyone domestic). */
  scale: number;
  borderShare: number;
  familyAbroadShare: number;
}

/** Where a country's emigrants live: the residences that list it among their origins. */
function destinationsOf(region: string): Weights {
  const weightOf = new Map(SIMULATION_COUNTRIES.map((c) => [c.region, c.weight]));
  const out: Array<[string, number]> = [];
  for (const [residence, r] of Object.entries(MIGRATION)) {
    const o = r.origins.find(([c]) => c === region);
    if (o) out.push([residence, o[1] * r.migrants * (weightOf.get(residence) ?? 0.5)]);
  }
  return out.length > 0 ? out : DESTINATIONS.filter(([c]) => c !== region);
}

export function pick(weights: Weights, rng: SeededRandom, exclude: ReadonlySet<string> = new Set()): string | undefined {
  const usable = weights.filter(([c, w]) => w > 0 && !exclude.has(c));
  const total = usable.reduce((s, [, w]) => s + w, 0);
  if (total <= 0) return undefined;
  let x = rng.float() * total;
  for (const [c, w] of usable) if ((x -= w) < 0) return c;
  return usable[usable.length - 1]![0];
}

/** n distinct countries, none of them in `exclude`. */
function several(weights: Weights, n: number, rng: SeededRandom, exclude: Set<string>): string[] {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const c = pick(weights, rng, exclude);
    if (!c) break;
    out.push(c);
    exclude.add(c);
  }
  return out;
}

/** Spreads `share` over countries, unevenly (a few close friends in one, one contact in another). */
function spread(countries: readonly string[], share: number, rng: SeededRandom): BookSegment[] {
  const w = countries.map(() => 0.3 + rng.float());
  const total = w.reduce((a, b) => a + b, 0);
  return countries.map((region, k) => ({ region, share: (share * w[k]!) / total }));
}

/**
 * The kind of user account `index` is, and how its address book spreads over countries. The
 * draw that decides the kind is a hash of (seed, index), so the shares hold exactly in
 * expectation whatever else the run does; the book's spread comes from a second stream.
 */
export function profileOf(seed: number, index: number, region: string, opts: InternationalOptions): OrganicProfile {
  const res = MIGRATION[region];
  const u = (mix(seed, 0x1a7e, index) % 1_000_000) / 1_000_000;
  const rng = rngFor(seed, 0x1a7f, index);
  const students = Math.min(1, (res?.students ?? 0) * opts.scale);
  const migrants = Math.min(1, (res?.migrants ?? 0) * opts.scale);
  const own = new Set([region]);
  if (res && u < students) {
    // Home family and friends, the host country's campus, classmates from many countries.
    const home = pick(res.origins, rng, own) ?? pick(OTHER_ORIGINS, rng, own)!;
    own.add(home);
    const homeShare = 0.25 + 0.35 * rng.float();
    const local = 0.1 + 0.3 * rng.float();
    const classmates = several([...OTHER_ORIGINS, ...DESTINATIONS], 3 + rng.int(8), rng, own);
    return { kind: 'student', segments: [{ region, share: local }, { region: home, share: homeShare }, ...spread(classmates, Math.max(0, 1 - homeShare - local), rng)] };
  }
  if (res && u < migrants) {
    // Born elsewhere: the residence's people, the origin's, and often a few in the wider diaspora.
    const origin = (rng.float() < 0.85 ? pick(res.origins, rng, own) : undefined) ?? pick(OTHER_ORIGINS, rng, own)!;
    own.add(origin);
    const local = 0.35 + 0.45 * rng.float();
    const third = rng.float() < 0.5 ? 0.25 * rng.float() : 0;
    const elsewhere = third > 0 ? several(destinationsOf(origin), 1 + rng.int(4), rng, own) : [];
    const originShare = 1 - local - (elsewhere.length > 0 ? third : 0);
    return { kind: 'migrant', segments: [{ region, share: local }, { region: origin, share: originShare }, ...spread(elsewhere, 1 - local - originShare, rng)] };
  }
  const v = (mix(seed, 0x1a80, index) % 1_000_000) / 1_000_000;
  if (res?.neighbours && v < opts.borderShare) {
    const across = several(res.neighbours.map((c) => [c, 1] as const), 1 + rng.int(2), rng, own);
    const share = 0.1 + 0.3 * rng.float();
    return { kind: 'border', segments: [{ region, share: 1 - share }, ...spread(across, share, rng)] };
  }
  if (v >= opts.borderShare && v < opts.borderShare + opts.familyAbroadShare) {
    const abroad = several(destinationsOf(region), 1 + rng.int(3), rng, own);
    const share = 0.02 + 0.06 * rng.float();
    return { kind: 'family-abroad', segments: [{ region, share: 1 - share }, ...spread(abroad, share, rng)] };
  }
  return { kind: 'domestic', segments: [{ region, share: 1 }] };
}

/** The kind alone, for tallies (the same draw as profileOf). */
export function kindOf(seed: number, index: number, region: string, opts: InternationalOptions): OrganicKind {
  return profileOf(seed, index, region, opts).kind;
}

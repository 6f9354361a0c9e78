import type { LookupEvent } from '../events.js';
import type { CompiledAbusePolicy } from '../../policy/index.js';
import type { SignupEvent } from '../signup.js';
import { answersCheck } from '../detectors/book.js';
import { blockCallingCode, blockValue, regionCallingCode } from './blocks.js';
import { IdleMap } from './idle-map.js';
import { DecayedPair, decayTo, decayedSlots, decayedValue, slideTo, slidingSlots, slidingValue } from './window.js';
import { INFRA_KINDS, InfraState, Recent, RECENT_MAX, type InfraKind } from './infra.js';

export { INFRA_KINDS, InfraState, type InfraKind } from './infra.js';

/**
 * Per-key features over sliding windows, updated incrementally from lookup and sign-up events.
 * Time is the events' own `at` (and the `now` a reader passes): nothing here reads a clock, so
 * the simulator and replays of stored events see exactly what production saw.
 *
 * Memory is bounded twice: keys idle for `idleTtl` are forgotten, and each map has a hard cap that
 * drops the least recently seen key first. An account's counters live in one Float64Array.
 */

/** Sliding counters (short and day windows share the layout). */
export const S = { asked: 0, newNumbers: 1, calls: 2, denseCalls: 3, refused: 4 } as const;
const S_FIELDS = 5;
/** Decayed totals (long half-life). */
export const L = { asked: 0, foreign: 1, answered: 2, matched: 3, denseNumbers: 4, denseCalls: 5, calls: 6, hostingCalls: 7, askedNew: 8 } as const;
const L_FIELDS = 9;

const SHORT = 0;
const DAY = slidingSlots(S_FIELDS);
const LONG = 2 * slidingSlots(S_FIELDS);
const SLOTS = LONG + decayedSlots(L_FIELDS);

/** Recent distinct values per account (addresses, countries, dense blocks): enough for spread and explanations. */
const DENSE_BLOCKS_MAX = 16;
/** One call's weight in its country's hit rate: no single caller's 5,000-number sync sets the bar. */
const COUNTRY_CALL_CAP = 1000;

export interface SignupContext {
  at: number;
  ip: string;
  subnet: string;
  asn?: number;
  country?: string;
  network?: string;
  deviceId?: string;
}

export class AccountState {
  readonly c = new Float64Array(SLOTS);
  lastAt = 0;
  firstAt = Number.POSITIVE_INFINITY;
  createdAt: number;
  phoneCc: string | undefined;
  ownPrefix: string | undefined;
  phoneRegion: string | undefined;
  signup: SignupContext | undefined;
  readonly ips = new Recent(RECENT_MAX);
  /** Installations it called from or signed up on (made on the first: many accounts send none). */
  devices: Recent | undefined;
  readonly countries = new Recent(RECENT_MAX);
  /** Blocks of dense calls, most recent first. */
  readonly denseBlocks = new Recent(DENSE_BLOCKS_MAX);
  /** The current ascending chain of dense blocks, and the longest one lately. */
  runBlocks = 0;
  runFrom = '';
  runTo = '';
  bestRun = 0;
  bestRunAt = 0;
  bestRunFrom = '';
  bestRunTo = '';
  private lastDenseValue = -1;
  private lastDenseCc = '';
  /**
   * Set while the enumeration detector reports the account: a cheap hint for other detectors,
   * which skip ordinary accounts on the per-event path rather than score them.
   */
  flagged = false;

  constructor(
    readonly id: string,
    createdAt: number,
  ) {
    this.createdAt = createdAt;
  }

  /** Age of the account at its latest call (or sign-up). */
  get ageAtLastMs(): number {
    return this.lastAt - this.createdAt;
  }

  /** Extends the ascending chain of dense blocks (a range walked block after block). */
  noteDenseBlock(block: string, at: number): void {
    this.denseBlocks.note(block, at);
    if (block === this.runTo) return;
    const cc = blockCallingCode(block) ?? '';
    const v = blockValue(block);
    if (this.runBlocks > 0 && cc === this.lastDenseCc && v > this.lastDenseValue) {
      this.runBlocks++;
    } else {
      this.runBlocks = 1;
      this.runFrom = block;
    }
    this.runTo = block;
    this.lastDenseValue = v;
    this.lastDenseCc = cc;
    if (this.runBlocks >= this.bestRun || at - this.bestRunAt > 7 * 86_400_000) {
      this.bestRun = this.runBlocks;
      this.bestRunAt = at;
      this.bestRunFrom = this.runFrom;
      this.bestRunTo = this.runTo;
    }
  }
}

/** What one lookup event amounts to, computed once for every detector. */
export interface CallFacts {
  account: AccountState;
  numbers: number;
  blocks: number;
  /** The block holding the most numbers of the call, and how many. */
  topBlock: string | undefined;
  topCount: number;
  dense: boolean;
  foreign: number;
  hosting: boolean;
  newAccount: boolean;
}

export class FeatureStore {
  private readonly accountsMap: IdleMap<AccountState>;
  private readonly infraMaps: Record<InfraKind, IdleMap<InfraState>>;
  private readonly population: DecayedPair;
  /** The same yardstick per country of the callers' own phones (answers.ts): books hit at their country's rate. */
  private readonly byCountry = new Map<string, DecayedPair>();
  private readonly f: CompiledAbusePolicy['features'];
  private readonly answers: CompiledAbusePolicy['realtime']['answers'];
  private readonly e: CompiledAbusePolicy['enumeration'];
  /** ASN -> its key text: one string per network, not a new one per event (they key a map each call). */
  private readonly asnKeys = new Map<number, string>();

  constructor(policy: CompiledAbusePolicy) {
    this.f = policy.features;
    this.answers = policy.realtime.answers;
    this.e = policy.enumeration;
    this.accountsMap = new IdleMap(this.f.idleTtlMs, this.f.maxAccounts);
    const perKind = Math.max(1, Math.floor(this.f.maxInfraKeys / INFRA_KINDS.length));
    this.infraMaps = {
      ip: new IdleMap(this.f.idleTtlMs, perKind),
      subnet: new IdleMap(this.f.idleTtlMs, perKind),
      asn: new IdleMap(this.f.idleTtlMs, perKind),
      device: new IdleMap(this.f.idleTtlMs, perKind),
    };
    this.population = new DecayedPair(this.f.populationHalfLifeMs);
  }

  get policy(): CompiledAbusePolicy['features'] {
    return this.f;
  }

  account(id: string): AccountState | undefined {
    return this.accountsMap.get(id);
  }

  accounts(): IterableIterator<AccountState> {
    return this.accountsMap.values();
  }

  get accountCount(): number {
    return this.accountsMap.size;
  }

  infra(kind: InfraKind, key: string): InfraState | undefined {
    return this.infraMaps[kind].get(key);
  }

  infraKeys(kind: InfraKind): IterableIterator<InfraState> {
    return this.infraMaps[kind].values();
  }

  /** Matched / answered numbers of aged accounts on ordinary networks lately: the yardstick of each account's hit rate. */
  populationHitRate(now: number): number {
    const answered = this.population.x(now);
    return answered > 0 ? this.population.y(now) / answered : 0;
  }

  /**
   * The hit rate a book of `country` shows: the country's own once it rests on enough numbers, else
   * the population's, else the policy's prior.
   */
  countryHitRate(country: string | undefined, now: number): number {
    const a = this.answers;
    const min = a?.minBaselineNumbers ?? 1;
    const own = country !== undefined ? this.byCountry.get(country) : undefined;
    if (own && own.x(now) >= min) return own.y(now) / own.x(now);
    if (this.population.x(now) >= min) return this.populationHitRate(now);
    return a?.prior ?? 0;
  }

  /** Every country's rate with the numbers behind it, for the request path (hit-rates.ts publishes them). */
  countryHitRates(now: number): Array<{ country: string; numbers: number; matched: number }> {
    const out = [{ country: '*', numbers: this.population.x(now), matched: this.population.y(now) }];
    for (const [country, pair] of this.byCountry) out.push({ country, numbers: pair.x(now), matched: pair.y(now) });
    return out;
  }

  observeLookup(e: LookupEvent): CallFacts {
    const at = e.at;
    const acc = this.accountsMap.touch(e.accountId, at) ?? this.accountsMap.insert(e.accountId, new AccountState(e.accountId, e.accountCreatedAt));
    if (at > acc.lastAt) acc.lastAt = at;
    acc.createdAt = e.accountCreatedAt;
    if (e.phoneRegion !== acc.phoneRegion) {
      acc.phoneRegion = e.phoneRegion;
      acc.phoneCc = regionCallingCode(e.phoneRegion);
      acc.ownPrefix = acc.phoneCc !== undefined ? `+${acc.phoneCc}` : undefined;
    }
    if (at < acc.firstAt) acc.firstAt = at;

    let blocks = 0;
    let topBlock: string | undefined;
    let topCount = 0;
    let foreign = 0;
    // Calling codes are prefix-free: a block starting with "+<own code>" has that code.
    // Without a phone of its own, every number is foreign to the account.
    const own = acc.ownPrefix;
    for (const b in e.blocks) {
      const n = e.blocks[b]!;
      blocks++;
      if (n > topCount) {
        topCount = n;
        topBlock = b;
      }
      if (own === undefined || !b.startsWith(own)) foreign += n;
    }
    const dense = topCount >= this.e.denseMinNumbers && blocks <= this.e.denseMaxBlocks;
    const hosting = e.network !== 'other';
    const newAccount = at - e.accountCreatedAt < this.f.newAccountAgeMs;
    const refused = e.outcome !== 'allowed';
    // A challenged call comes again with its proof of work: its numbers are counted then, not
    // twice (a 5,000-number book would otherwise look like 10,000 new numbers in a minute).
    const counted = e.outcome !== 'challenged';

    const c = acc.c;
    countCall(c, SHORT, this.f.shortWindowMs, e, dense && counted, refused, counted);
    countCall(c, DAY, this.f.dayWindowMs, e, dense && counted, refused, counted);
    const k = decayTo(c, LONG, L_FIELDS, this.f.longHalfLifeMs, at);
    const l = LONG + 1;
    // The long totals describe number space (shares of foreign, dense, matched numbers): emails
    // have no blocks and a hit rate of their own, so only the velocity windows count them.
    const phone = e.kind === 'phone' && counted;
    const phones = phone ? e.numbers : 0;
    c[l + L.asked]! += phones * k;
    // What the caller asked anew, token-covered numbers left out: the long volume's measure. An app
    // that re-syncs its whole book with its token several times a day asks nothing new, and a
    // volume counted over `asked` took that person for a scraper (test/review/resync-cadence).
    if (phone) c[l + L.askedNew]! += e.newNumbers * k;
    if (counted) c[l + L.foreign]! += foreign * k;
    c[l + L.calls]! += k;
    if (hosting) c[l + L.hostingCalls]! += k;
    if (dense && counted) {
      c[l + L.denseNumbers]! += topCount * k;
      c[l + L.denseCalls]! += k;
      acc.noteDenseBlock(topBlock!, at);
    }
    if (e.outcome === 'allowed' && phones > 0) {
      c[l + L.answered]! += phones * k;
      c[l + L.matched]! += e.matched * k;
      // The yardstick must be organic: a scanner's own volume would drag it toward its hit rate.
      // Aged accounts on residential addresses scan too (residential-aged: its range scans pulled
      // the rate from 0.08 to 0.01, and every organic book then looked like a list of members), so
      // the flagged and dense calls (a slice of a range, never a book) are left out, and one call
      // weighs at most COUNTRY_CALL_CAP numbers, as per country.
      // Nor is a call far beyond a book of its country (the answers rule's test) learned from:
      // sleepers working a list from accounts under the rule's age raised the rate they were
      // measured against to about their own at 2,000 accounts, and their aged fleet-mates passed.
      // The rest is learned winsorized at the rule's ratio: fifty sleepers syncing eight fleet-mates
      // each day (7 of 8 found) lifted the rate by half at 2,000 accounts through calls too small to judge.
      const base = this.answers !== undefined ? this.countryHitRate(e.phoneRegion, at) : 0;
      const beyond = this.answers !== undefined && answersCheck(phones, e.matched, base, this.answers).excessive;
      const learned = this.answers !== undefined ? Math.min(e.matched, Math.max(1, this.answers.ratio * Math.max(this.answers.floor, base) * phones)) : e.matched;
      if (!hosting && !newAccount && !acc.flagged && !dense && !beyond) {
        const w = Math.min(1, COUNTRY_CALL_CAP / phones);
        this.population.add(at, phones * w, learned * w);
      }
      // Per country, new accounts count: on a launch day (a country's users joining within days)
      // they are the population, and their books hit more as their friends join. The flagged do
      // not: a list worked from aged accounts must not raise the bar it is measured against.
      if (!hosting && !acc.flagged && !dense && !beyond && e.phoneRegion !== undefined) {
        let pair = this.byCountry.get(e.phoneRegion);
        if (!pair) this.byCountry.set(e.phoneRegion, (pair = new DecayedPair(this.f.populationHalfLifeMs)));
        const w = Math.min(1, COUNTRY_CALL_CAP / phones);
        pair.add(at, phones * w, learned * w);
      }
    }
    acc.ips.note(e.ip, at);
    if (e.deviceId !== undefined) (acc.devices ??= new Recent(RECENT_MAX)).note(e.deviceId, at);
    if (e.country !== undefined) acc.countries.note(e.country, at);

    this.member('ip', e.ip, acc, at, hosting, newAccount, e.country);
    this.member('subnet', e.subnet, acc, at, hosting, newAccount, e.country);
    if (e.asn !== undefined) this.member('asn', this.asnKey(e.asn), acc, at, hosting, newAccount, e.country);
    if (e.deviceId !== undefined) this.member('device', e.deviceId, acc, at, hosting, newAccount, e.country);

    return { account: acc, numbers: e.numbers, blocks, topBlock, topCount, dense, foreign, hosting, newAccount };
  }

  observeSignup(e: SignupEvent): AccountState {
    const acc = this.accountsMap.touch(e.accountId, e.at) ?? this.accountsMap.insert(e.accountId, new AccountState(e.accountId, e.at));
    if (e.at > acc.lastAt) acc.lastAt = e.at;
    acc.createdAt = e.at;
    if (e.at < acc.firstAt) acc.firstAt = e.at;
    acc.signup = {
      at: e.at,
      ip: e.ip,
      subnet: e.subnet,
      ...(e.asn !== undefined ? { asn: e.asn } : {}),
      ...(e.country !== undefined ? { country: e.country } : {}),
      ...(e.network !== undefined ? { network: e.network } : {}),
      ...(e.deviceId !== undefined ? { deviceId: e.deviceId } : {}),
    };
    if (e.deviceId !== undefined) (acc.devices ??= new Recent(RECENT_MAX)).note(e.deviceId, e.at);
    const hosting = e.network !== undefined && e.network !== 'other';
    if (hosting) {
      // A sign-up from a hosting network says as much about the account as a call from one.
      const k = decayTo(acc.c, LONG, L_FIELDS, this.f.longHalfLifeMs, e.at);
      acc.c[LONG + 1 + L.calls]! += k;
      acc.c[LONG + 1 + L.hostingCalls]! += k;
    }
    const sign = (kind: InfraKind, key: string): void => {
      this.member(kind, key, acc, e.at, hosting, true, e.country).signups++;
    };
    sign('ip', e.ip);
    sign('subnet', e.subnet);
    if (e.asn !== undefined) sign('asn', this.asnKey(e.asn));
    if (e.deviceId !== undefined) sign('device', e.deviceId);
    return acc;
  }

  /** Forgets idle keys; call now and then (the engine does on every evaluation). */
  expire(now: number): void {
    this.accountsMap.expire(now);
    for (const kind of INFRA_KINDS) this.infraMaps[kind].expire(now);
  }

  private asnKey(asn: number): string {
    let key = this.asnKeys.get(asn);
    if (key === undefined) {
      // There are ~120,000 ASNs; the bound is for made-up ones.
      if (this.asnKeys.size >= 200_000) this.asnKeys.clear();
      this.asnKeys.set(asn, (key = String(asn)));
    }
    return key;
  }

  private member(kind: InfraKind, key: string, acc: AccountState, at: number, hosting: boolean, newAccount: boolean, country: string | undefined): InfraState {
    const map = this.infraMaps[kind];
    const st = map.touch(key, at) ?? map.insert(key, new InfraState(kind, key, at));
    if (at > st.lastAt) st.lastAt = at;
    if (country !== undefined) st.countries.note(country, at);
    st.addMember(acc.id, at, this.f.membersPerKey);
    st.calls++;
    if (hosting) st.hostingCalls++;
    if (newAccount) st.newAccountCalls++;
    return st;
  }
}

function countCall(c: Float64Array, off: number, windowMs: number, e: LookupEvent, dense: boolean, refused: boolean, numbers: boolean): void {
  const s = slideTo(c, off, S_FIELDS, windowMs, e.at);
  if (s < 0) return;
  if (numbers) {
    c[s + S.asked]! += e.numbers;
    c[s + S.newNumbers]! += e.newNumbers;
  }
  c[s + S.calls]! += 1;
  if (dense) c[s + S.denseCalls]! += 1;
  if (refused) c[s + S.refused]! += 1;
}

/** Sliding counter `field` (S.*) of an account over the short or the day window, at `now`. */
export function sliding(store: FeatureStore, acc: AccountState, window: 'short' | 'day', field: number, now: number): number {
  const f = store.policy;
  return window === 'short'
    ? slidingValue(acc.c, SHORT, S_FIELDS, f.shortWindowMs, now, field)
    : slidingValue(acc.c, DAY, S_FIELDS, f.dayWindowMs, now, field);
}

/** Decayed total `field` (L.*) of an account at `now`. */
export function decayed(store: FeatureStore, acc: AccountState, field: number, now: number): number {
  return decayedValue(acc.c, LONG, store.policy.longHalfLifeMs, now, field);
}

/** Distinct addresses and countries an account used within the day window. */
export function spread(store: FeatureStore, acc: AccountState, now: number): { ips: number; countries: number } {
  const since = now - store.policy.dayWindowMs;
  return { ips: acc.ips.countSince(since), countries: acc.countries.countSince(since) };
}

import { L, S, decayed, sliding, spread, type AccountState, type FeatureStore } from '../features/store.js';
import type { CompiledAbusePolicy } from '../../policy/index.js';
import { BehaviourMemo, NO_VALUES, type Behaviour } from './behaviour-memo.js';

export type { Behaviour } from './behaviour-memo.js';
import { bookZ } from './book.js';
import { clamp01, explainedLater, fmt, noisyOr, rate, span, type Detector, type Finding, type Observation } from './types.js';

/**
 * Enumeration: an account (or, summed, a cluster) working through number space rather than an
 * address book. Signals, each with a weight in the score:
 * - velocity: more new numbers than any address book holds, within an hour or a day;
 * - dense: calls that pack many numbers into one or two blocks (a slice of a range, not a book);
 * - run: dense calls walking blocks in ascending order;
 * - split-range: (clusters) members' dense blocks covering many blocks between them;
 * - low / high hit rate against the population's: scanning unallocated space / a list of real numbers;
 * - foreign: most numbers outside the country of the account's own phone;
 * - spread: many addresses or countries within a day.
 * Being new or on a hosting network only raises a score some behaviour already made.
 */

export const ENUMERATION = 'enumeration';

const WEIGHTS: Record<string, number> = {
  velocity: 0.8,
  dense: 0.7,
  run: 0.6,
  'split-range': 0.6,
  'low-hit-rate': 0.5,
  'high-hit-rate': 0.4,
  foreign: 0.35,
  spread: 0.3,
};
const CONTEXT_BOOST = 0.15;
const SUPPORTING = new Set(['foreign', 'spread', 'low-hit-rate']);
/** The long-volume bar, in days of the daily velocity bar. */
const LONG_VOLUME_DAYS = 2;
/**
 * How far (in book-overdispersed standard deviations, answers.ts bookZ) a hit rate must depart from
 * the yardstick to count: in residential-aged at 2,000 accounts, books at 0.18-0.19 against 0.13-0.15
 * were flagged by the ratio alone, and flagged accounts joined the scanners' clusters.
 */
const HIT_RATE_Z = 4;
/** Decayed counts lose a little between calls a day apart: a bar of 3 calls is met at 2.5. */
const DECAY_ALLOWANCE = 0.85;
/** The spread signal's bars: countries or addresses within 24h. */
const SPREAD_COUNTRIES = 4;
const SPREAD_IPS = 12;


/**
 * An account's behaviour at `now`. `full` false is for a score alone (suspicion, the per-account
 * finding's score): the sets that only the explanation and the cluster sum read stay empty, and
 * the addresses and countries are counted only when the spread signal could fire on them (a
 * Recent holds at most RECENT_MAX values, so fewer stored values than the bar cannot reach it).
 * The score is the same either way.
 */
export function behaviourOf(store: FeatureStore, acc: AccountState, now: number, full = true): Behaviour {
  const spreadable = full || acc.countries.values.length >= SPREAD_COUNTRIES || acc.ips.values.length >= SPREAD_IPS;
  const sp = spreadable ? spread(store, acc, now) : undefined;
  return {
    members: 1,
    newShort: sliding(store, acc, 'short', S.newNumbers, now),
    newDay: sliding(store, acc, 'day', S.newNumbers, now),
    asked: decayed(store, acc, L.asked, now),
    askedNew: decayed(store, acc, L.askedNew, now),
    foreign: decayed(store, acc, L.foreign, now),
    answered: decayed(store, acc, L.answered, now),
    matched: decayed(store, acc, L.matched, now),
    denseNumbers: decayed(store, acc, L.denseNumbers, now),
    denseCalls: decayed(store, acc, L.denseCalls, now),
    calls: decayed(store, acc, L.calls, now),
    hostingCalls: decayed(store, acc, L.hostingCalls, now),
    newMembers: acc.ageAtLastMs < store.policy.newAccountAgeMs ? 1 : 0,
    bestRun: acc.bestRun,
    runFrom: acc.bestRunFrom,
    runTo: acc.bestRunTo,
    denseBlocks: full ? new Set(acc.denseBlocks.values) : (NO_VALUES as Set<string>),
    maxCountries: sp?.countries ?? 0,
    maxIps: sp?.ips ?? 0,
    ownCodes: full ? new Set(acc.phoneCc !== undefined ? [`+${acc.phoneCc}`] : []) : (NO_VALUES as Set<string>),
  };
}

/**
 * A light behaviour (behaviourOf with full false) made full, without reading the decayed counters
 * again: the sets copied from the account, the addresses and countries counted if they were not.
 * Equal to behaviourOf(store, acc, now) while the account has not changed since `light` was made.
 */
export function completeBehaviour(store: FeatureStore, acc: AccountState, now: number, light: Behaviour): Behaviour {
  const spreadable = acc.countries.values.length >= SPREAD_COUNTRIES || acc.ips.values.length >= SPREAD_IPS;
  const sp = spreadable ? undefined : spread(store, acc, now);
  return {
    ...light,
    denseBlocks: new Set(acc.denseBlocks.values),
    maxCountries: sp ? sp.countries : light.maxCountries,
    maxIps: sp ? sp.ips : light.maxIps,
    ownCodes: new Set(acc.phoneCc !== undefined ? [`+${acc.phoneCc}`] : []),
  };
}

/** Members' behaviour summed; intensive measures (shares, rates, per-member velocity) stay comparable. */
export function sumBehaviour(parts: readonly Behaviour[]): Behaviour {
  const out: Behaviour = {
    members: 0, newShort: 0, newDay: 0, asked: 0, askedNew: 0, foreign: 0, answered: 0, matched: 0, denseNumbers: 0, denseCalls: 0,
    calls: 0, hostingCalls: 0, newMembers: 0, bestRun: 0, runFrom: '', runTo: '', denseBlocks: new Set(), maxCountries: 0, maxIps: 0, ownCodes: new Set(),
  };
  for (const b of parts) {
    out.members += b.members;
    out.newShort += b.newShort;
    out.newDay += b.newDay;
    out.asked += b.asked;
    out.askedNew += b.askedNew;
    out.foreign += b.foreign;
    out.answered += b.answered;
    out.matched += b.matched;
    out.denseNumbers += b.denseNumbers;
    out.denseCalls += b.denseCalls;
    out.calls += b.calls;
    out.hostingCalls += b.hostingCalls;
    out.newMembers += b.newMembers;
    if (b.bestRun > out.bestRun) {
      out.bestRun = b.bestRun;
      out.runFrom = b.runFrom;
      out.runTo = b.runTo;
    }
    for (const x of b.denseBlocks) out.denseBlocks.add(x);
    for (const x of b.ownCodes) out.ownCodes.add(x);
    out.maxCountries = Math.max(out.maxCountries, b.maxCountries);
    out.maxIps = Math.max(out.maxIps, b.maxIps);
  }
  return out;
}

export interface Signal {
  name: string;
  strength: number;
  text: string;
}

/**
 * Of a behaviour's sets, what the signals read: the number of dense blocks (a score needs it) and,
 * for the sentences, the first and last block in sort order and up to three own calling codes. A
 * finding keeps these instead of the sets until its explanation is read.
 */
export interface SetFacts {
  blocks: number;
  firstBlock: string;
  lastBlock: string;
  ownCodes: string;
}

export function setFactsOf(b: Behaviour, withText = true): SetFacts {
  let first = '';
  let last = '';
  if (withText) {
    // The ends of [...blocks].sort(): it orders strings by UTF-16 code units, as < does.
    let any = false;
    for (const x of b.denseBlocks) {
      if (!any || x < first) first = x;
      if (!any || x > last) last = x;
      any = true;
    }
  }
  const ownCodes = !withText ? '' : b.ownCodes.size > 0 ? [...b.ownCodes].slice(0, 3).join(', ') : 'none';
  return { blocks: b.denseBlocks.size, firstBlock: first, lastBlock: last, ownCodes };
}

/**
 * The behavioural signals of `b` against the population's hit rate. `withText` false leaves every
 * signal's text empty: a score needs only names and strengths, and the sentences (numbers
 * formatted for people) cost more than the arithmetic; they are written when an operator's
 * explanation is asked for (lazyText).
 */
export function enumerationSignals(b: Behaviour, populationHitRate: number, p: CompiledAbusePolicy, shortMs: number, withText = true, sets = setFactsOf(b, withText)): Signal[] {
  const e = p.enumeration;
  const out: Signal[] = [];
  const m = Math.max(1, b.members);
  const per = m > 1 ? ' per member' : '';
  const vShort = b.newShort / m / e.velocityShort;
  const vDay = b.newDay / m / e.velocityDay;
  // Weeks of numbers asked anew past two days' bar is no address book either. Token-covered numbers
  // are left out: an app re-syncing its whole book with its token asks them again and again.
  const vLong = b.askedNew / m / (LONG_VOLUME_DAYS * e.velocityDay);
  const v = Math.max(vShort, vDay, vLong);
  if (v >= 1) {
    const text = !withText
      ? ''
      : v === vShort
        ? `asked ${fmt(b.newShort / m)} new numbers${per} within ${span(shortMs)} (bar ${fmt(e.velocityShort)})`
        : v === vDay
          ? `asked ${fmt(b.newDay / m)} new numbers${per} within 24h (bar ${fmt(e.velocityDay)})`
          : `asked ${fmt(b.askedNew / m)} new numbers${per} lately (decayed; bar ${fmt(LONG_VOLUME_DAYS * e.velocityDay)})`;
    out.push({ name: 'velocity', strength: clamp01(0.5 + 0.5 * Math.log2(v)), text });
  }
  const denseBar = e.denseCalls * DECAY_ALLOWANCE;
  if (b.denseCalls >= denseBar && b.asked > 0 && b.denseNumbers / b.asked >= 0.5) {
    out.push({
      name: 'dense',
      strength: clamp01(0.5 + 0.25 * Math.log2(b.denseCalls / denseBar)),
      text: !withText ? '' : `${fmt(b.denseCalls)} dense calls (≥${e.denseMinNumbers} numbers in at most ${e.denseMaxBlocks} blocks) put ${fmt(b.denseNumbers)} of ${fmt(b.asked)} numbers into ${fmt(sets.blocks)}${sets.blocks >= 16 ? '+' : ''} blocks`,
    });
  }
  if (b.bestRun >= e.runBlocks) {
    out.push({
      name: 'run',
      strength: clamp01(0.5 + 0.15 * (b.bestRun - e.runBlocks)),
      text: !withText ? '' : `walked ${b.bestRun} blocks in ascending order (${b.runFrom}… to ${b.runTo}…)`,
    });
  }
  if (m > 1 && sets.blocks >= 2 * e.runBlocks) {
    out.push({
      name: 'split-range',
      strength: clamp01(0.5 + 0.1 * (sets.blocks / (2 * e.runBlocks) - 1)),
      text: !withText ? '' : `members' dense calls cover ${fmt(sets.blocks)} blocks between them (${sets.firstBlock}… to ${sets.lastBlock}…)`,
    });
  }
  if (b.answered >= e.hitRateMinNumbers && populationHitRate > 0) {
    const hr = b.matched / b.answered;
    // A ratio alone flagged ordinary books: they spread widely around their country's rate (friends
    // of members are members), so the departure must also be significant for a book (bookZ).
    const z = bookZ(b.answered, b.matched, populationHitRate, b.members);
    const vs = !withText ? '' : `hit rate ${rate(hr)} on ${fmt(b.answered)} answered numbers vs population ${rate(populationHitRate)} (z ${z.toFixed(1)})`;
    if (hr < populationHitRate * e.lowHitRatio && z <= -HIT_RATE_Z) {
      out.push({ name: 'low-hit-rate', strength: clamp01(0.5 + 0.5 * (1 - hr / (populationHitRate * e.lowHitRatio))), text: vs });
    } else if (hr > populationHitRate * e.highHitRatio && z >= HIT_RATE_Z) {
      out.push({ name: 'high-hit-rate', strength: clamp01(0.5 + (hr / populationHitRate - e.highHitRatio) / e.highHitRatio), text: vs });
    }
  }
  if (b.asked >= e.foreignMinNumbers) {
    const share = b.foreign / b.asked;
    if (share >= e.foreignShare) {
      out.push({
        name: 'foreign',
        strength: clamp01(0.5 + (0.5 * (share - e.foreignShare)) / Math.max(1e-9, 1 - e.foreignShare)),
        text: !withText ? '' : `${Math.round(share * 100)}% of ${fmt(b.asked)} numbers outside its own country (${sets.ownCodes})`,
      });
    }
  }
  if (b.maxCountries >= SPREAD_COUNTRIES || b.maxIps >= SPREAD_IPS) {
    out.push({ name: 'spread', strength: 0.5, text: !withText ? '' : `used ${b.maxIps} addresses in ${b.maxCountries} countries within 24h` });
  }
  return out;
}

export interface EnumerationAssessment {
  score: number;
  signals: Signal[];
  newShare: number;
  hostingShare: number;
}

/** `withText` false: the same score and signal names, the signals' texts left empty (enumerationSignals). */
export function assessBehaviour(b: Behaviour, populationHitRate: number, p: CompiledAbusePolicy, shortMs: number, withText = true, sets?: SetFacts): EnumerationAssessment {
  const signals = enumerationSignals(b, populationHitRate, p, shortMs, withText, sets);
  const newShare = b.members > 0 ? b.newMembers / b.members : 0;
  const hostingShare = b.calls > 0 ? b.hostingCalls / b.calls : 0;
  // Foreign numbers, a low hit rate and addresses in several countries only support a signal of
  // number space: on their own they are an emigrant's book (its numbers abroad hit at their own
  // countries' rates, often low) or a traveller. In residential-aged at 2,000 accounts a new German
  // user's first sync (2,211 numbers, mostly abroad, 40 found) was flagged by them alone and
  // suspended with the scanners sharing its network.
  if (signals.every((s) => SUPPORTING.has(s.name))) return { score: 0, signals, newShare, hostingShare };
  const behaviour = noisyOr(signals.map((s) => (WEIGHTS[s.name] ?? 0.3) * s.strength));
  const score = noisyOr([behaviour, CONTEXT_BOOST * newShare, CONTEXT_BOOST * (hostingShare >= 0.5 ? 1 : 0)]);
  return { score, signals, newShare, hostingShare };
}

/** The sentence an operator reads: who, what, against which bars. */
export function describe(subject: string, a: EnumerationAssessment): string {
  const ctx: string[] = [];
  if (a.newShare > 0) ctx.push(a.newShare >= 1 ? 'new' : `${Math.round(a.newShare * 100)}% new`);
  if (a.hostingShare >= 0.5) ctx.push('on hosting networks');
  return `${subject}${ctx.length > 0 ? ` (${ctx.join(', ')})` : ''}: ${a.signals.map((s) => s.text).join('; ')}`;
}

/**
 * A finding on `b` whose explanation, describe(subject, assessBehaviour(b, ...)), is written when
 * first read. It keeps b's numbers and SetFacts, not b: a finding lives until the next evaluation
 * and a cluster's summed behaviour holds every member's dense blocks.
 */
export function behaviourFinding(f: Omit<Finding, 'explanation'>, subject: string, b: Behaviour, populationHitRate: number, p: CompiledAbusePolicy, shortMs: number): Finding {
  const sets = setFactsOf(b);
  const numbers: Behaviour = { ...b, denseBlocks: NO_VALUES as Set<string>, ownCodes: NO_VALUES as Set<string> };
  return explainedLater(f, () => describe(subject, assessBehaviour(numbers, populationHitRate, p, shortMs, true, sets)));
}

export class EnumerationDetector implements Detector {
  readonly name = ENUMERATION;
  private readonly dirty = new Set<string>();
  private readonly active = new Map<string, Finding>();

  constructor(
    private readonly store: FeatureStore,
    private readonly policy: CompiledAbusePolicy,
  ) {}

  observe(obs: Observation): void {
    // Any input may change an account or the population's rate: the evaluation's memo is stale.
    this.memoAt = Number.NaN;
    if (obs.type === 'lookup') this.dirty.add(obs.facts.account.id);
  }

  /**
   * Each account's light behaviour and score (no texts) as of `memoAt`, computed once per
   * evaluation: the detector's own findings, the coordination detector's suspicion of every member
   * of a shared key and the cluster sums all ask for the same accounts at the same instant. Stale
   * when `now` moves and whenever an input is observed, so it never outlives the state it read.
   */
  private memoAt = Number.NaN;
  private memoHitRate = 0;
  private readonly memo = new BehaviourMemo();

  /** The offset of the account's row in the memo, scored now if it was not yet. */
  private row(acc: AccountState, now: number): number {
    if (now !== this.memoAt) {
      this.memo.renew();
      this.memoAt = now;
      this.memoHitRate = this.store.populationHitRate(now);
    }
    const found = this.memo.find(acc);
    if (found >= 0) return found;
    const b = behaviourOf(this.store, acc, now, false);
    return this.memo.write(acc, b, assessBehaviour(b, this.memoHitRate, this.policy, this.store.policy.shortWindowMs, false).score);
  }

  private light(acc: AccountState, now: number): Behaviour {
    return this.memo.light(this.row(acc, now), acc);
  }

  /**
   * The members' behaviour summed (sumBehaviour of each one's behaviourOf), from the evaluation's
   * memo: the engine's cluster aggregate. Undefined for fewer than two accounts.
   */
  behaviourSum(accounts: readonly AccountState[], now: number): Behaviour | undefined {
    if (accounts.length < 2) return undefined;
    return sumBehaviour(accounts.map((acc) => completeBehaviour(this.store, acc, now, this.light(acc, now))));
  }

  /** The account's assessment now, with its signals' texts (for an explanation). */
  assess(acc: AccountState, now: number): EnumerationAssessment {
    // Against the population's rate, not the country's: a country whose only callers work a list
    // learns the list's rate (the answers rule lives with that; this signal need not). Books of
    // countries where the app is rarer (0.03 in Egypt in the simulator against 0.09 overall) fall
    // low, which is why a low hit rate only supports other signals (SUPPORTING).
    return assessBehaviour(behaviourOf(this.store, acc, now), this.store.populationHitRate(now), this.policy, this.store.policy.shortWindowMs);
  }

  /**
   * The account's enumeration score now: assess(acc, now).score without the texts and the sets
   * only they read. Other detectors judge a shared key's members by it every evaluation.
   */
  score(acc: AccountState, now: number): number {
    return this.memo.score(this.row(acc, now));
  }

  /** The share of the account's decayed calls made from hosting networks (0 without calls), as the score read them. */
  hostingShare(acc: AccountState, now: number): number {
    return this.memo.hostingShare(this.row(acc, now));
  }

  /** Accounts the memo holds a row for (tests: it lets go of accounts no longer scored). */
  get memoSize(): number {
    return this.memo.size;
  }

  /**
   * Whether any signal could fire, from raw counters: most callers asked a handful of numbers, and
   * scoring each of them in full every evaluation would cost more than all their events did.
   */
  private mayFlag(acc: AccountState, now: number): boolean {
    const e = this.policy.enumeration;
    const asked = decayed(this.store, acc, L.asked, now);
    return (
      asked >= Math.min(e.foreignMinNumbers, e.hitRateMinNumbers, e.velocityShort) ||
      decayed(this.store, acc, L.denseCalls, now) >= e.denseCalls * DECAY_ALLOWANCE ||
      acc.bestRun >= e.runBlocks ||
      acc.ips.values.length >= 4
    );
  }

  findings(now: number): Finding[] {
    for (const id of this.active.keys()) this.dirty.add(id);
    const hitRate = this.store.populationHitRate(now);
    const shortMs = this.store.policy.shortWindowMs;
    const minScore = this.policy.enumeration.minScore;
    for (const id of this.dirty) {
      const acc = this.store.account(id);
      // Scored without texts; the explanation is written only if someone reads it, from the
      // behaviour as it is now (behaviourFinding keeps its numbers: the account's state moves on).
      if (!acc || !this.mayFlag(acc, now) || this.score(acc, now) < minScore) {
        if (acc) acc.flagged = false;
        this.active.delete(id);
        continue;
      }
      acc.flagged = true;
      const light = this.light(acc, now);
      const a = assessBehaviour(light, hitRate, this.policy, shortMs, false);
      this.active.set(
        id,
        behaviourFinding(
          { detector: ENUMERATION, kind: 'account', accountIds: [id], score: a.score, signals: a.signals.map((s) => s.name), from: acc.firstAt, to: acc.lastAt },
          `account ${id}`,
          completeBehaviour(this.store, acc, now, light),
          hitRate,
          this.policy,
          shortMs,
        ),
      );
    }
    this.dirty.clear();
    return [...this.active.values()];
  }
}

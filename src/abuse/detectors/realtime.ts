import { numberCallingCode } from '../features/blocks.js';
import type { RealtimePolicy } from '../../policy/index.js';

/**
 * The real-time tier (Twitter's BotMaker runs rules in the request path): a synchronous, pure
 * check the discovery routes run before answering. It looks at the batch itself, which no event
 * carries whole (events keep only number blocks): is it one dense run of consecutive numbers, the
 * shape of a range scan? And at what the engine already decided about the caller. The numbers are
 * read and forgotten: nothing here keeps or logs them.
 */

/** What the engine decided about the caller, as the serving node knows it. */
export interface CallerState {
  action?: 'throttle' | 'challenge' | 'suspend-account' | 'suspend-cluster';
  clusterId?: string;
}

export interface DenseRun {
  /** Numbers in the run. */
  numbers: number;
  /** Last minus first + 1: the numeric range the run spans. */
  span: number;
  /** numbers / span. */
  coverage: number;
  /** How densely the batch fills the run's block(s) anyway: share of the block's 10,000 numbers asked. */
  background: number;
}

/**
 * A run must stand out from the batch around it: a book of 5,000 numbers in a country with one
 * block (the simulator's small populations have such) fills half the block, so loose chains in it
 * mean nothing. Twice the background density is the bar.
 */
const CONTRAST = 2;
const BLOCK = 10_000;

export type RealtimeVerdict =
  | { verdict: 'allow'; run?: DenseRun }
  | { verdict: 'challenge' | 'deny'; reason: 'dense-run' | 'scattered-list' | 'suspended-cluster' | 'challenged-cluster'; run?: DenseRun; scatter?: Scatter; clusterId?: string };

/** How a batch spreads over countries, against the caller's own calling code. */
export interface Scatter {
  numbers: number;
  foreign: number;
  /** Foreign numbers outside the largest foreign country: what no diaspora explains. */
  scattered: number;
  /** Distinct foreign calling codes. */
  countries: number;
}

/** Counts a batch's foreign numbers, how many lie outside its largest foreign country, and the foreign calling codes. */
export function scatterOf(numbers: readonly string[], ownCode: string | undefined): Scatter {
  const perCode = new Map<string, number>();
  let n = 0;
  let foreign = 0;
  for (const s of numbers) {
    const cc = numberCallingCode(s);
    if (cc === undefined) continue;
    n++;
    if (cc === ownCode) continue;
    foreign++;
    perCode.set(cc, (perCode.get(cc) ?? 0) + 1);
  }
  let top = 0;
  for (const c of perCode.values()) if (c > top) top = c;
  return { numbers: n, foreign, scattered: foreign - top, countries: perCode.size };
}

/**
 * The batch's scatter when it meets the scatter bars (at least `minNumbers` numbers, `minCountries`
 * foreign calling codes, `minScatteredShare` outside both the caller's country and the largest
 * foreign one); undefined otherwise, or without the caller's own country (then nothing is foreign).
 */
export function scatteredBatch(numbers: readonly string[], ownCode: string | undefined, sc: RealtimePolicy['scatter']): Scatter | undefined {
  if (!sc || ownCode === undefined || numbers.length < sc.minNumbers) return undefined;
  const scatter = scatterOf(numbers, ownCode);
  const meets = scatter.numbers >= sc.minNumbers && scatter.scattered >= sc.minScatteredShare * scatter.numbers && scatter.countries >= sc.minCountries;
  return meets ? scatter : undefined;
}

/** E.164 digits as a number (at most 15 digits: exact in a double); NaN for anything else. */
function e164Value(s: string): number {
  if (s.length < 8 || s.length > 16 || s.charCodeAt(0) !== 43) return Number.NaN;
  let v = 0;
  for (let i = 1; i < s.length; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    v = v * 10 + d;
  }
  return v;
}

/**
 * Runs of a batch: sorted distinct numbers chained while neighbours are at most `maxGap` apart.
 * Returns the run that best meets the tiers: the largest one, and the largest strictly
 * consecutive one (coverage 1), which a looser chain around it could otherwise dilute.
 */
export function denseRuns(numbers: readonly string[], maxGap: number): { widest: DenseRun; consecutive: DenseRun } {
  const v = new Float64Array(numbers.length);
  let n = 0;
  for (const s of numbers) {
    const x = e164Value(s);
    if (x === x) v[n++] = x;
  }
  const sorted = v.subarray(0, n).sort();
  // Runs are kept as index ranges while sweeping; objects are built once, for the two winners.
  let wFrom = 0;
  let wTo = -1;
  let wCount = 0;
  let cFrom = 0;
  let cTo = -1;
  let cCount = 0;
  let start = 0;
  let count = 0;
  let cStart = 0;
  let cRun = 0;
  for (let i = 0; i < n; i++) {
    const x = sorted[i]!;
    if (i > 0 && x === sorted[i - 1]!) continue;
    if (count === 0 || x - sorted[i - 1]! > maxGap) {
      start = i;
      count = 0;
    }
    if (cRun === 0 || x - sorted[i - 1]! !== 1) {
      cStart = i;
      cRun = 0;
    }
    count++;
    cRun++;
    if (count > wCount) {
      wFrom = start;
      wTo = i;
      wCount = count;
    }
    if (cRun > cCount) {
      cFrom = cStart;
      cTo = i;
      cCount = cRun;
    }
  }
  return { widest: runOf(sorted, wFrom, wTo, wCount), consecutive: runOf(sorted, cFrom, cTo, cCount) };
}

function runOf(sorted: Float64Array, from: number, to: number, count: number): DenseRun {
  if (count === 0) return { numbers: 0, span: 0, coverage: 0, background: 0 };
  const first = sorted[from]!;
  const last = sorted[to]!;
  const blockCount = (x: number): number => {
    const b = Math.floor(x / BLOCK) * BLOCK;
    return lowerBound(sorted, b + BLOCK) - lowerBound(sorted, b);
  };
  return { numbers: count, span: last - first + 1, coverage: count / (last - first + 1), background: Math.max(blockCount(first), blockCount(last)) / BLOCK };
}

function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function meets(run: DenseRun, tier: { minNumbers: number; minCoverage: number }): boolean {
  return run.numbers >= tier.minNumbers && run.coverage >= tier.minCoverage && run.coverage >= CONTRAST * run.background;
}

/**
 * Decides a discovery call before it is answered: deny a caller in a suspended cluster, deny or
 * challenge a batch that is a dense run of consecutive numbers, deny a batch scattered over many
 * foreign countries (a leaked list) unless the answers rule judges it after matching, challenge a
 * caller the engine wants challenged. Microseconds for an ordinary batch: one sort of the batch's numbers.
 */
export function realtimeCheck(numbers: readonly string[], caller: CallerState | undefined, policy: RealtimePolicy, ownCode?: string): RealtimeVerdict {
  const cluster = caller?.clusterId !== undefined ? { clusterId: caller.clusterId } : {};
  if (caller?.action === 'suspend-account' || caller?.action === 'suspend-cluster') {
    return { verdict: 'deny', reason: 'suspended-cluster', ...cluster };
  }
  let run: DenseRun | undefined;
  if (numbers.length >= policy.challenge.minNumbers || numbers.length >= policy.deny.minNumbers) {
    const { widest, consecutive } = denseRuns(numbers, policy.maxGap);
    for (const tier of ['deny', 'challenge'] as const) {
      const hit = meets(consecutive, policy[tier]) ? consecutive : meets(widest, policy[tier]) ? widest : undefined;
      if (hit) return { verdict: tier, reason: 'dense-run', run: hit };
    }
    run = widest;
  }
  // With the answers rule, a scattered batch is judged after matching (AbuseService.answers): spread
  // alone is also the book of an expat in Dubai, and refused such books; spread that hits like a list
  // of registered numbers is what a leaked list does. Without it, spread alone is refused here.
  const scatter = policy.answers ? undefined : scatteredBatch(numbers, ownCode, policy.scatter);
  if (scatter) return { verdict: 'deny', reason: 'scattered-list', scatter, ...(run ? { run } : {}) };
  if (caller?.action === 'challenge') return { verdict: 'challenge', reason: 'challenged-cluster', ...cluster, ...(run ? { run } : {}) };
  return run ? { verdict: 'allow', run } : { verdict: 'allow' };
}

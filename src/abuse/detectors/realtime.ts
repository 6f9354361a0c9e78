import type { RealtimePolicy } from '../policy.js';

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
}

export type RealtimeVerdict =
  | { verdict: 'allow'; run?: DenseRun }
  | { verdict: 'challenge' | 'deny'; reason: 'dense-run' | 'suspended-cluster' | 'challenged-cluster'; run?: DenseRun; clusterId?: string };

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
  const none: DenseRun = { numbers: 0, span: 0, coverage: 0 };
  let widest = none;
  let consecutive = none;
  let start = 0;
  let count = 0;
  let cStart = 0;
  let cCount = 0;
  for (let i = 0; i < n; i++) {
    const x = sorted[i]!;
    if (i > 0 && x === sorted[i - 1]!) continue;
    if (count === 0 || x - sorted[i - 1]! > maxGap) {
      start = x;
      count = 0;
    }
    if (cCount === 0 || x - sorted[i - 1]! !== 1) {
      cStart = x;
      cCount = 0;
    }
    count++;
    cCount++;
    if (count > widest.numbers) widest = { numbers: count, span: x - start + 1, coverage: count / (x - start + 1) };
    if (cCount > consecutive.numbers) consecutive = { numbers: cCount, span: x - cStart + 1, coverage: 1 };
  }
  return { widest, consecutive };
}

function meets(run: DenseRun, tier: { minNumbers: number; minCoverage: number }): boolean {
  return run.numbers >= tier.minNumbers && run.coverage >= tier.minCoverage;
}

/**
 * Decides a discovery call before it is answered: deny a caller in a suspended cluster, deny or
 * challenge a batch that is a dense run of consecutive numbers, challenge a caller the engine
 * wants challenged. Microseconds for an ordinary batch: one sort of the batch's numbers.
 */
export function realtimeCheck(numbers: readonly string[], caller: CallerState | undefined, policy: RealtimePolicy): RealtimeVerdict {
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
  if (caller?.action === 'challenge') return { verdict: 'challenge', reason: 'challenged-cluster', ...cluster, ...(run ? { run } : {}) };
  return run ? { verdict: 'allow', run } : { verdict: 'allow' };
}

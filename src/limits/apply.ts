import { refillsToHold, type ApplyInput, type ApplyResult, type BreakerCharge, type Charge, type LayerResult } from './store.js';
import type { Scope } from '../policy/index.js';

/**
 * The check-and-charge rules, over whatever holds the state. The in-memory store runs this
 * directly; redis-script.lua is a line-by-line port (a test runs both on the same inputs).
 * Written by hand because it is findguard's own idea: all layers (token buckets) and the
 * breaker decided together, refusals charging nothing.
 */

export interface BucketState {
  tokens: number;
  ts: number;
}

export interface BreakerState {
  /** Start of the current window. */
  ws: number;
  /** Demand in the current window. */
  count: number;
  /** Learned demand per window. */
  base: number;
  /** Tripped until this time. */
  until: number;
}

export interface StateAccess {
  bucket(key: string): BucketState | undefined;
  breaker(key: string): BreakerState | undefined;
  strikes(key: string): number;
}

/**
 * What a decided call changes, told to the store as it is decided (after every layer was read):
 * the buckets charged (only when the call is allowed), the breaker's window (always, when there is
 * one), a strike (a refusal at account or device scope). Calls rather than a list of writes, so the
 * in-memory store updates its entries in place: the list was three objects a layer per call.
 */
export interface StateWrites {
  bucket(key: string, tokens: number, ts: number, ttlMs: number): void;
  breaker(key: string, state: BreakerState, ttlMs: number): void;
  strike(key: string, ttlMs: number): void;
}

/** Share of the bucket under which an allowed call counts as near the limit. */
export const NEAR_LIMIT = 0.2;
const EPSILON = 1e-9;

export function rollBreaker(prev: BreakerState | undefined, b: BreakerCharge, now: number): BreakerState {
  const windowStart = Math.floor(now / b.windowMs) * b.windowMs;
  let { ws, count, base, until } = prev ?? { ws: windowStart, count: 0, base: b.initialBaseline, until: 0 };
  if (now >= ws + b.windowMs) {
    // Learn from the finished window only if the breaker was not tripped during it, so an
    // attack never teaches the baseline; empty windows since then decay it.
    if (until <= ws) base += b.alpha * (count - base);
    const skipped = Math.floor((now - ws) / b.windowMs) - 1;
    if (skipped > 0 && until <= ws + b.windowMs) base *= (1 - b.alpha) ** Math.min(skipped, 10_000);
    ws = windowStart;
    count = 0;
  }
  count += b.demand;
  if (count > Math.max(b.minimum, b.ratio * base)) until = Math.max(until, now + b.holdMs);
  return { ws, count, base, until };
}

/**
 * Tokens each charge would leave and the ts its bucket is written with, index for index with
 * input.charges (left NaN: not charged). Reused from call to call: applyCharges is synchronous, so
 * no two calls share them at once.
 */
let leftScratch = new Float64Array(16);
let tsScratch = new Float64Array(16);

export function applyCharges(input: ApplyInput, read: StateAccess, write: StateWrites): ApplyResult {
  const { now } = input;
  // First, before any bucket: the caller's tier sized every charge, and it was chosen from a
  // strike count the caller remembered. Outside the counts that tier holds for, charging would
  // judge the call at another tier's buckets; the caller asks again with the count returned.
  let strikes = input.strikeKey ? read.strikes(input.strikeKey) : 0;
  if (input.strikeKey && input.strikesMin !== undefined && (strikes < input.strikesMin || (input.strikesMax !== undefined && strikes > input.strikesMax))) {
    return { outcome: 'stale-strikes', layers: [], tripped: false, breakerShadowRefused: false, strikes };
  }
  let tripped = false;
  let share = 1;
  let breakerShadowRefused = false;
  let breakerUntil = 0;
  let breakerState: BreakerState | undefined;
  let breakerTtlMs = 0;
  if (input.breaker) {
    const b = input.breaker;
    const state = rollBreaker(read.breaker(b.key), b, now);
    breakerState = state;
    breakerTtlMs = Math.max(b.windowMs * 4, state.until - now) + 86_400_000;
    tripped = state.until > now;
    breakerUntil = state.until;
    if (tripped && b.share < 1) {
      if (b.shadow) breakerShadowRefused = b.share === 0;
      else share = b.share;
    }
  }

  const charges = input.charges;
  const layers: LayerResult[] = [];
  if (leftScratch.length < charges.length) {
    leftScratch = new Float64Array(2 * charges.length);
    tsScratch = new Float64Array(2 * charges.length);
  }
  const next = leftScratch;
  const nextTs = tsScratch;
  let refused: { layer: string; scope: Scope; retryAfterMs: number } | undefined;
  let challenge: Charge | undefined;

  // Refused by the breaker (tightened tier): unless a layer refuses on its own for longer, in
  // which case that is the better answer (the caller waits once, not twice).
  if (share === 0) refused = { layer: 'breaker', scope: 'global', retryAfterMs: breakerUntil - now };
  for (let i = 0; i < charges.length; i++) {
    const c = charges[i]!;
    next[i] = NaN;
    const s = read.bucket(c.key);
    // A bucket's ts never moves back: `now` is the calling node's clock, and a node whose clock is
    // behind (another node's, or this one's before a step back) writing its own time would let the
    // next call refill the same span again, skew x rate tokens per alternation. Refilled only for
    // time past the latest ts any caller has written.
    const ts = s !== undefined && s.ts > now ? s.ts : now;
    const tokens = s ? Math.min(c.burst, s.tokens + Math.max(0, now - s.ts) * c.rate) : c.burst;
    const left = tokens - c.cost;
    if (left + EPSILON < 0) {
      layers.push({ layer: c.layer, outcome: c.shadow ? 'shadow_refused' : 'refused', nearLimit: false });
      if (c.shadow) continue;
      // A caller whose clock is behind the bucket's ts waits for its clock to reach ts first.
      const retryAfterMs = refillsToHold(c) ? (c.cost - tokens) / c.rate + (ts - now) : c.perMs;
      if (!refused || retryAfterMs > refused.retryAfterMs) refused = { layer: c.layer, scope: c.scope, retryAfterMs };
      continue;
    }
    // The layer would allow it, but the breaker reserves the rest of the bucket from this tier.
    if (!c.shadow && left + EPSILON < c.burst * (1 - share)) {
      layers.push({ layer: c.layer, outcome: 'unchecked', nearLimit: false });
      const retryAfterMs = breakerUntil - now;
      if (!refused || retryAfterMs > refused.retryAfterMs) refused = { layer: 'breaker', scope: 'global', retryAfterMs };
      continue;
    }
    layers.push({ layer: c.layer, outcome: 'allowed', nearLimit: left < c.burst * NEAR_LIMIT });
    next[i] = left;
    nextTs[i] = ts;
    if (!c.shadow && !challenge && c.challengeBelow !== undefined && left < c.burst * c.challengeBelow) challenge = c;
  }

  let strikeWritten = false;
  let outcome: ApplyResult['outcome'];
  if (refused) {
    outcome = 'refused';
    if (input.strikeKey && (refused.scope === 'account' || refused.scope === 'device')) {
      strikes += 1;
      strikeWritten = true;
    }
  } else if (challenge && !input.proof) {
    outcome = 'challenge';
  } else {
    outcome = 'allowed';
    for (let i = 0; i < charges.length; i++) {
      const left = next[i]!;
      if (Number.isNaN(left)) continue;
      const c = charges[i]!;
      const ts = nextTs[i]!;
      // Kept until full by the clock of ts, not of `now`, and at every tier of the layer, not this
      // call's: a forgotten bucket reads as full at whichever tier reads it, so one forgotten
      // earlier (a ttl from a clock that is behind, or from a tier with a smaller burst or a faster
      // refill) would be a refill ahead of time.
      const keep = c.keep ?? c;
      const ttlMs = keep.rate > 0 ? Math.ceil((keep.burst - left) / keep.rate + (ts - now)) + 1000 : 365 * 86_400_000;
      write.bucket(c.key, left, ts, ttlMs);
    }
  }
  if (breakerState) write.breaker(input.breaker!.key, breakerState, breakerTtlMs);
  if (strikeWritten) write.strike(input.strikeKey!, input.strikeWindowMs);
  // Property by property: a conditional spread costs ~1 µs on Node 20, and this runs on every call.
  const result: ApplyResult = { outcome, layers, tripped, breakerShadowRefused, strikes };
  if (refused) {
    result.layer = refused.layer;
    result.scope = refused.scope;
    result.retryAfterMs = Math.max(1000, Math.ceil(refused.retryAfterMs));
  } else if (outcome === 'challenge' && challenge) {
    result.layer = challenge.layer;
    result.scope = challenge.scope;
  }
  return result;
}

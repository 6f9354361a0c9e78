import type { ApplyInput, ApplyResult, BreakerCharge, Charge, LayerResult } from './store.js';
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

export interface StateWrites {
  buckets: Array<{ key: string; state: BucketState; ttlMs: number }>;
  breaker?: { key: string; state: BreakerState; ttlMs: number };
  strike?: { key: string; ttlMs: number };
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

export function applyCharges(input: ApplyInput, read: StateAccess): { result: ApplyResult; writes: StateWrites } {
  const { now } = input;
  const writes: StateWrites = { buckets: [] };
  let tripped = false;
  let share = 1;
  let breakerShadowRefused = false;
  let breakerUntil = 0;
  if (input.breaker) {
    const b = input.breaker;
    const state = rollBreaker(read.breaker(b.key), b, now);
    writes.breaker = { key: b.key, state, ttlMs: Math.max(b.windowMs * 4, state.until - now) + 86_400_000 };
    tripped = state.until > now;
    breakerUntil = state.until;
    if (tripped && b.share < 1) {
      if (b.shadow) breakerShadowRefused = b.share === 0;
      else share = b.share;
    }
  }

  const layers: LayerResult[] = [];
  const next: Array<{ charge: Charge; tokens: number } | undefined> = [];
  let refused: { layer: string; scope: Scope; retryAfterMs: number } | undefined;
  let challenge: { layer: string; scope: Scope } | undefined;

  // Refused by the breaker (tightened tier): unless a layer refuses on its own for longer, in
  // which case that is the better answer (the caller waits once, not twice).
  if (share === 0) refused = { layer: 'breaker', scope: 'global', retryAfterMs: breakerUntil - now };
  for (const c of input.charges) {
    const s = read.bucket(c.key);
    const tokens = s ? Math.min(c.burst, s.tokens + Math.max(0, now - s.ts) * c.rate) : c.burst;
    const left = tokens - c.cost;
    if (left + EPSILON < 0) {
      layers.push({ layer: c.layer, outcome: c.shadow ? 'shadow_refused' : 'refused', nearLimit: false });
      next.push(undefined);
      if (c.shadow) continue;
      const retryAfterMs = c.rate > 0 && c.cost <= c.burst ? (c.cost - tokens) / c.rate : c.perMs;
      if (!refused || retryAfterMs > refused.retryAfterMs) refused = { layer: c.layer, scope: c.scope, retryAfterMs };
      continue;
    }
    // The layer would allow it, but the breaker reserves the rest of the bucket from this tier.
    if (!c.shadow && left + EPSILON < c.burst * (1 - share)) {
      layers.push({ layer: c.layer, outcome: 'unchecked', nearLimit: false });
      next.push(undefined);
      const retryAfterMs = breakerUntil - now;
      if (!refused || retryAfterMs > refused.retryAfterMs) refused = { layer: 'breaker', scope: 'global', retryAfterMs };
      continue;
    }
    layers.push({ layer: c.layer, outcome: 'allowed', nearLimit: left < c.burst * NEAR_LIMIT });
    next.push({ charge: c, tokens: left });
    if (!c.shadow && !challenge && c.challengeBelow !== undefined && left < c.burst * c.challengeBelow) challenge = { layer: c.layer, scope: c.scope };
  }

  let strikes = input.strikeKey ? read.strikes(input.strikeKey) : 0;
  let outcome: ApplyResult['outcome'];
  if (refused) {
    outcome = 'refused';
    if (input.strikeKey && (refused.scope === 'account' || refused.scope === 'device')) {
      strikes += 1;
      writes.strike = { key: input.strikeKey, ttlMs: input.strikeWindowMs };
    }
  } else if (challenge && !input.proof) {
    outcome = 'challenge';
  } else {
    outcome = 'allowed';
    for (const n of next) {
      if (!n) continue;
      const c = n.charge;
      const ttlMs = c.rate > 0 ? Math.ceil((c.burst - n.tokens) / c.rate) + 1000 : 365 * 86_400_000;
      writes.buckets.push({ key: c.key, state: { tokens: n.tokens, ts: now }, ttlMs });
    }
  }
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
  return { result, writes };
}

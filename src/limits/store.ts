import type { BreakerParams, BucketKeep, Scope } from '../policy/index.js';

/** One bucket a call must pass, resolved from the policy for this call. */
export interface Charge {
  /** Policy layer id (metrics label, logs). */
  layer: string;
  scope: Scope;
  /** Store key, unique per layer and subject. */
  key: string;
  cost: number;
  burst: number;
  /** Tokens per millisecond. */
  rate: number;
  /** Retry-After for a bucket that can never hold the cost. */
  perMs: number;
  /**
   * How long the bucket is kept: its layer's, not this tier's, since the key is read at every tier
   * of the layer (BucketKeep says how). Absent: the key is only ever charged with this burst and
   * rate (a budget of one limit, such as GET /v1/me/exposures).
   */
  keep?: BucketKeep;
  shadow: boolean;
  challengeBelow?: number;
}

/** Whether waiting can ever let the bucket hold the call: it refills, and its burst is not below the cost. */
export function refillsToHold(c: Pick<Charge, 'rate' | 'burst' | 'cost'>): boolean {
  return c.rate > 0 && c.cost <= c.burst;
}

/** The global breaker's share of a call: its demand, and how much of every bucket the caller may use while tripped. */
export interface BreakerCharge extends BreakerParams {
  key: string;
  demand: number;
  /** 1: unaffected; 0: refused while tripped. */
  share: number;
}

export interface ApplyInput {
  charges: readonly Charge[];
  breaker?: BreakerCharge;
  /** The call carries a valid, unused proof-of-work: challenges are satisfied. */
  proof: boolean;
  /** Refusals at account or device scope are counted here (clean history). */
  strikeKey?: string;
  strikeWindowMs: number;
  /**
   * The strike counts the caller's tier was chosen for, both inclusive (no strikesMax: no upper
   * bound). With a strikeKey, a current count outside them charges nothing and answers
   * 'stale-strikes' with that count: the caller chose its tier (the size of every bucket) from a
   * count it remembered, which strikes given on another node, or expired, have made wrong.
   * Absent: charged whatever the count.
   */
  strikesMin?: number;
  strikesMax?: number;
  now: number;
}

export type LayerOutcome = 'allowed' | 'refused' | 'shadow_refused' | 'unchecked';

export interface LayerResult {
  layer: string;
  outcome: LayerOutcome;
  /** Allowed, but less than 20% of the bucket is left (Envoy's near_limit). */
  nearLimit: boolean;
}

export interface ApplyResult {
  /** stale-strikes: nothing was read past the strikes nor written (no layers, not tripped); `strikes` is the current count. */
  outcome: 'allowed' | 'refused' | 'challenge' | 'stale-strikes';
  /** For refusals and challenges: the binding layer and its scope. */
  layer?: string;
  scope?: Scope;
  retryAfterMs?: number;
  layers: LayerResult[];
  /** The breaker is tripped (whether or not it touched this call). */
  tripped: boolean;
  /** Would have refused the caller, but is in shadow mode. */
  breakerShadowRefused: boolean;
  /** The caller's strikes after this call. */
  strikes: number;
}

/**
 * Where bucket state lives: in this process (embedded default) or in Redis (many nodes). Every
 * implementation applies the same rules (apply.ts) in one atomic step: all layers are checked
 * before any is charged, and a refused or challenged call charges nothing.
 */
export interface LimitStore {
  readonly kind: 'memory' | 'redis';
  apply(input: ApplyInput): Promise<ApplyResult>;
  /** Marks a one-time id as used; false if it was used before. */
  useOnce(key: string, ttlMs: number, now: number): Promise<boolean>;
  /** The caller's current strikes (for trust), without charging anything. */
  strikes(key: string, now: number): Promise<number>;
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The store is unreachable or failed: layers that fail closed answer 503. */
export class LimitStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LimitStoreError';
  }
}

/**
 * What a call changed (a charge, a strike, a used proof-of-work) could not be saved where a
 * restart reads it back: answering would hand out what a crash then forgets. Always fails closed
 * (503), whatever a layer's failOpen says: the store is in reach, only its durability failed.
 */
export class LimitStateNotSavedError extends LimitStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LimitStateNotSavedError';
  }
}

/**
 * This node's limits in memory are no longer the only ones: another node took the single-node lock
 * (db/node-lock.ts) while this one's session was gone, and keeps buckets of its own. Answering from
 * both would give every caller each node's budget, so, like LimitStateNotSavedError, it always
 * fails closed (503) until this node holds the lock again.
 */
export class NotSoleNodeError extends LimitStoreError {
  constructor() {
    super('another node holds the single-node lock: this node keeps limits of its own no more');
    this.name = 'NotSoleNodeError';
  }
}

/**
 * The Redis that holds the limits does not hold this deployment's epoch (redis-epoch.ts): it came
 * back empty or is another deployment's, and every bucket would read as full. Fails closed (503)
 * whatever a layer's failOpen says, until an operator accepts the reset.
 */
export class LimitStateLostError extends LimitStoreError {
  constructor() {
    super("Redis does not hold this deployment's limits (its epoch is missing or another): failing closed until `findguard limits accept-redis-reset`");
    this.name = 'LimitStateLostError';
  }
}

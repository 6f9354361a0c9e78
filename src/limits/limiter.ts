import type { Logger } from 'pino';
import { lookupIp, type IpInfo, type IpIntel } from '../net/index.js';
import { AppError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { OutageLog, errorText } from '../util/outage.js';
import type { Challenges } from './challenges.js';
import type { LimitMetrics } from './metrics.js';
import type { CompiledLayer, CompiledLimit, CompiledPolicy, Network, Operation, TrustFacts } from '../policy/index.js';
import { LimitStateLostError, LimitStateNotSavedError, LimitStoreError, NotSoleNodeError, refillsToHold, type ApplyInput, type BreakerCharge, type Charge, type LimitStore } from './store.js';

/** What the limits need to know about one discovery call. */
export interface LimitRequest {
  accountId: string;
  deviceId?: string;
  ip: string;
  account: { createdAt: number; phoneRegion?: string; signupAttested?: boolean };
  operation: Operation;
  /** Distinct valid numbers outside the token-covered previous set. */
  newNumbers: number;
  /** X-Findguard-Proof, if sent. */
  proof?: string;
  /** The abuse engine wants a proof-of-work for this call whatever the budgets say. */
  forceChallenge?: boolean;
  /** Each new number costs this many tokens (the abuse engine's throttle); default 1. */
  costFactor?: number;
}

/** The outcome of an allowed call, for the abuse engine's events. */
export interface LimitVerdict {
  tier: string;
  network: Network;
  ip?: IpInfo;
  /**
   * Let through without a charge: the store was out of reach and every layer of the call fails
   * open (`onStoreError: open`). Whatever such a call answers was not paid for, so it must not be
   * handed a sync token that says it was (DiscoveryService.completeSync).
   */
  uncharged?: true;
}

export interface LimiterDeps {
  policy: CompiledPolicy;
  store: LimitStore;
  ipIntel: IpIntel;
  challenges: Challenges;
  metrics: LimitMetrics;
  clock: Clock;
  logger: Logger;
}

/**
 * The strike counts last seen are kept for this many accounts (oldest dropped first). A kept count
 * is only a guess at the tier: the store checks it against the current count in the step that
 * charges (ApplyInput.strikesMin/Max), so a count another node changed since costs one more
 * round trip, never a call judged at the wrong tier.
 */
const STRIKE_GUESS_MAX = 100_000;
/**
 * Applies per call, at most. The first 'stale-strikes' answer corrects a kept count (another node
 * gave the account strikes, or they expired); the next apply carries the count the store itself
 * read, so only strikes crossing a tier again within that one round trip (this account refused on
 * another node at that very moment) make a second. The loop is bounded so such refusals cannot
 * hold a call in it, and the call is refused then, charging nothing: judging it at either count
 * unconfirmed is the free path this check closes, and the account is being refused elsewhere.
 */
const MAX_APPLIES = 3;
/**
 * An address's intelligence is remembered this long (and for this many addresses): the lookup
 * (parse, two table searches, the subnet strings) was ~4 µs of every call, and a caller's address
 * repeats from call to call. The tables do not change under an intel; the bound is for one that
 * would be reloaded. The IpInfo is shared between calls: nothing writes to one once made.
 */
const IP_CACHE_MS = 10_000;
const IP_CACHE_MAX = 10_000;
/**
 * Charges made for a subject are kept for the next call of the same subject, tier and cost (one
 * map per layer, this many subjects each, oldest dropped first): building the seven charges of a
 * call, their key text and the strike key was ~1.5 KB of garbage a call. A Charge is never
 * written to once made, so calls may share one.
 */
const CHARGE_CACHE_MAX = 10_000;
/** For challenges the abuse engine asks for under a policy without a challenge section. */
const FALLBACK_CHALLENGE = { ttlMs: 300_000, difficulty: () => 20 };

/**
 * Every discovery call passes here before the directory is read: trust tier from the caller's
 * facts, one charge per applicable layer, and one atomic check-and-charge in the store.
 */
export class Limiter {
  private readonly usesStrikes: boolean;
  /** Ascending: the strike counts at which some tier's maxStrikes stops holding (maxStrikes + 1). */
  private readonly strikeSteps: readonly number[];
  /** Strike key -> the count the store last answered (see STRIKE_GUESS_MAX). */
  private readonly strikeGuess = new Map<string, number>();
  private readonly ipCache = new Map<string, { info: IpInfo | undefined; until: number }>();
  /** Per policy layer (index for index): subject -> the charge last made for it (see CHARGE_CACHE_MAX). */
  private readonly chargeCache: Array<Map<string, Charge>>;
  /** Account id -> its strike key. */
  private readonly strikeKeys = new Map<string, string>();
  /** The breaker's charge last made per tier (its demand is checked before reuse). */
  private readonly breakerCharges = new Map<string, BreakerCharge>();
  /** The store failing: logged once, and again when it answers. */
  private readonly storeOutage: OutageLog;

  constructor(private readonly deps: LimiterDeps) {
    this.storeOutage = new OutageLog({
      down: (err) => deps.logger.error({ err: errorText(err), store: deps.store.kind }, 'limits store unreachable: discovery fails closed'),
      up: () => deps.logger.info({ store: deps.store.kind }, 'limits store reachable again'),
    });
    const steps = new Set<number>();
    for (const t of deps.policy.source.tiers) if (t.when?.maxStrikes !== undefined) steps.add(t.when.maxStrikes + 1);
    this.strikeSteps = [...steps].sort((a, b) => a - b);
    this.usesStrikes = this.strikeSteps.length > 0;
    this.chargeCache = deps.policy.layers.map(() => new Map<string, Charge>());
  }

  get policy(): CompiledPolicy {
    return this.deps.policy;
  }

  async check(req: LimitRequest): Promise<LimitVerdict> {
    const { policy, store, clock, metrics } = this.deps;
    const now = clock.now();
    const ip = this.ipInfo(req.ip, now);
    const network = policy.networkOf(ip?.ip ?? req.ip, ip);
    const strikeKey = this.strikeKeyOf(req.accountId);
    try {
      // Objects on this path are built property by property: on Node 20 a literal with a
      // conditional spread costs ~1 µs per spread, and a call built a dozen of them.
      const facts: TrustFacts = { accountAgeMs: Math.max(0, now - req.account.createdAt), network, strikes: 0 };
      if (req.account.phoneRegion) facts.phoneCountry = req.account.phoneRegion;
      if (req.account.signupAttested === true) facts.signupAttested = true;
      // A guess (an account never seen: none, as most have), checked by the store as it charges.
      if (this.usesStrikes) facts.strikes = this.strikeGuess.get(strikeKey) ?? 0;
      const challengePolicy = policy.challenge ?? FALLBACK_CHALLENGE;
      let proofDifficulty: number | undefined;
      for (let applies = 1; ; applies++) {
        const tier = policy.tierOf(facts);
        const charges = this.charges(req, tier, ip);
        const difficulty = challengePolicy.difficulty(tier);
        // Used up once, on the first pass; a later pass at another tier counts it only if it is hard enough there.
        if (applies === 1 && req.proof !== undefined && (policy.challenge || req.forceChallenge)) {
          proofDifficulty = await this.deps.challenges.redeemDifficulty(req.accountId, req.proof, difficulty, now);
        }
        const proof = proofDifficulty !== undefined && proofDifficulty >= difficulty;
        // A bucket that can never hold the cost refuses the call whatever the proof: asking for work
        // first would only have the caller solve a puzzle to be refused.
        if (req.forceChallenge && !proof && !charges.some((c) => !c.shadow && c.burst < c.cost)) {
          const challenge = this.deps.challenges.issue(req.accountId, difficulty, challengePolicy.ttlMs, now);
          throw new AppError('challenge_required', 'solve the proof-of-work and repeat the call with the X-Findguard-Proof header', { challenge, scope: 'account' });
        }
        const input: ApplyInput = { charges, proof, strikeKey, strikeWindowMs: policy.strikeWindowMs, now };
        if (this.usesStrikes) this.strikeRange(facts, tier, input);
        const breaker = this.breaker(req, tier);
        if (breaker) input.breaker = breaker;
        const result = await store.apply(input);
        this.storeOutage.ok();
        if (this.usesStrikes) this.rememberStrikes(strikeKey, result.strikes);
        if (result.outcome === 'stale-strikes') {
          facts.strikes = result.strikes;
          if (applies < MAX_APPLIES) continue;
          metrics.refusedStaleStrikes(req.operation);
          this.deps.logger.info({ account: req.accountId, scope: 'account', tier: policy.tierOf(facts), retryAfter: 1, operation: req.operation }, 'discovery call refused: strikes changed tier during every try');
          throw new AppError('rate_limited', 'too many new numbers or calls; retry later', { retryAfter: 1, scope: 'account' }, { 'retry-after': '1' });
        }
        metrics.record(req.operation, result);
        if (result.outcome === 'refused') {
          const retryAfter = Math.max(1, Math.ceil(this.waitFor(result, charges, facts) / 1000));
          // One line per refusal: who and why, never the numbers.
          this.deps.logger.info({ account: req.accountId, layer: result.layer, scope: result.scope, tier, retryAfter, operation: req.operation }, 'discovery call refused by limits');
          throw new AppError('rate_limited', 'too many new numbers or calls; retry later', { retryAfter, scope: result.scope }, { 'retry-after': String(retryAfter) });
        }
        if (result.outcome === 'challenge') {
          const challenge = this.deps.challenges.issue(req.accountId, difficulty, challengePolicy.ttlMs, now);
          throw new AppError('challenge_required', `solve the proof-of-work and repeat the call with the ${'X-Findguard-Proof'} header`, { challenge, scope: result.scope });
        }
        const verdict: LimitVerdict = { tier, network };
        if (ip) verdict.ip = ip;
        return verdict;
      }
    } catch (err) {
      if (!(err instanceof LimitStoreError)) throw err;
      return this.storeFailed(req, err, network, ip);
    }
  }

  /**
   * The strike counts for which these facts give `tier` (input.strikesMin/Max), so the store
   * charges only if the current count still gives it. Tiers change with strikes only at the
   * policy's steps (maxStrikes + 1), so the span is found by judging one count per step outward
   * from the guess, the other facts held (one tierOf for the default policy).
   */
  private strikeRange(facts: TrustFacts, tier: string, input: ApplyInput): void {
    const { policy } = this.deps;
    const steps = this.strikeSteps;
    const guess = facts.strikes;
    input.strikesMin = 0;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if (step <= guess) continue;
      facts.strikes = step;
      if (policy.tierOf(facts) !== tier) {
        input.strikesMax = step - 1;
        break;
      }
    }
    for (let i = steps.length - 1; i >= 0; i--) {
      const step = steps[i]!;
      if (step > guess) continue;
      facts.strikes = step - 1;
      if (policy.tierOf(facts) !== tier) {
        input.strikesMin = step;
        break;
      }
    }
    facts.strikes = guess;
  }

  private storeFailed(req: LimitRequest, err: LimitStoreError, network: Network, ip: IpInfo | undefined): LimitVerdict {
    this.storeOutage.failed(err);
    const layers = this.deps.policy.layers.filter((l) => l.on.has(req.operation));
    // Not saved: the store charged the call, but a crash now would forget it (memory-store.ts), so
    // it is never answered, whatever failOpen says (that is for a store out of reach). Not the sole
    // node: another keeps its own budgets beside this one's. Lost: Redis came back without them.
    const closed = err instanceof LimitStateNotSavedError || err instanceof NotSoleNodeError || err instanceof LimitStateLostError || this.deps.policy.breaker !== undefined || layers.some((l) => !l.failOpen);
    this.deps.metrics.unavailable(req.operation);
    if (closed) throw new AppError('unavailable', 'discovery is unavailable for a moment; retry later', undefined, { 'retry-after': '5' });
    return { tier: 'unknown', network, uncharged: true, ...(ip ? { ip } : {}) };
  }

  private ipInfo(ip: string, now: number): IpInfo | undefined {
    const hit = this.ipCache.get(ip);
    if (hit && hit.until > now) return hit.info;
    const info = lookupIp(this.deps.ipIntel, ip);
    if (hit) {
      hit.info = info;
      hit.until = now + IP_CACHE_MS;
      return info;
    }
    if (this.ipCache.size >= IP_CACHE_MAX) this.ipCache.delete(this.ipCache.keys().next().value!);
    this.ipCache.set(ip, { info, until: now + IP_CACHE_MS });
    return info;
  }

  /** A kept count is overwritten in place: no map insertion per call. */
  private rememberStrikes(key: string, strikes: number): void {
    if (!this.strikeGuess.has(key) && this.strikeGuess.size >= STRIKE_GUESS_MAX) this.strikeGuess.delete(this.strikeGuess.keys().next().value!);
    this.strikeGuess.set(key, strikes);
  }

  /**
   * How long the caller must wait. A bucket that refills can hold the call once the store's wait is
   * over; one that never can at this tier (a budget of 0, as a new account's on a hosting network:
   * the store answers its period, a day) holds it when the account's age moves it to a tier whose
   * limit for that layer does. Told a day, an app retried daily for a week and was refused each time.
   */
  private waitFor(result: { layer?: string; retryAfterMs?: number }, charges: readonly Charge[], facts: TrustFacts): number {
    const stored = result.retryAfterMs ?? 1000;
    const charge = charges.find((c) => c.layer === result.layer && !c.shadow);
    if (!charge || refillsToHold(charge)) return stored;
    const layer = this.deps.policy.layers.find((l) => l.id === charge.layer);
    if (!layer) return stored;
    // A limit that never refills cannot lift it either: the bucket is the layer's, kept across tiers.
    const age = this.deps.policy.ageUntil(facts, (tier) => {
      const limit = layer.limitFor(tier);
      return limit === undefined || refillsToHold({ rate: limit.rate, burst: limit.burst, cost: charge.cost });
    });
    return age === undefined || age <= facts.accountAgeMs ? stored : age - facts.accountAgeMs;
  }

  private charges(req: LimitRequest, tier: string, ip: IpInfo | undefined): Charge[] {
    const out: Charge[] = [];
    const layers = this.deps.policy.layers;
    for (let i = 0; i < layers.length; i++) {
      const layer = layers[i]!;
      if (!layer.on.has(req.operation)) continue;
      const limit = layer.limitFor(tier);
      if (!limit) continue;
      const cost = layer.cost === 'calls' ? 1 : req.newNumbers * (req.costFactor ?? 1);
      // Numbers the token already covers cost nothing: no bucket to touch.
      if (cost === 0) continue;
      const subject = subjectOf(layer, req, ip);
      if (subject === undefined) continue;
      const cache = this.chargeCache[i]!;
      const cached = cache.get(subject);
      // The same limit object means the same tier's limit (limitFor answers the policy's own). How
      // long the bucket is kept is the layer's, the same for every charge of this map.
      if (cached && cached.cost === cost && cached.burst === limit.burst && cached.rate === limit.rate && cached.perMs === limit.perMs && cached.challengeBelow === limit.challengeBelow) {
        out.push(cached);
        continue;
      }
      const charge = chargeOf(layer, limit, subject, cost);
      if (!cached && cache.size >= CHARGE_CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(subject, charge);
      out.push(charge);
    }
    return out;
  }

  private strikeKeyOf(accountId: string): string {
    let key = this.strikeKeys.get(accountId);
    if (key === undefined) {
      if (this.strikeKeys.size >= CHARGE_CACHE_MAX) this.strikeKeys.delete(this.strikeKeys.keys().next().value!);
      this.strikeKeys.set(accountId, (key = `strike:${accountId}`));
    }
    return key;
  }

  private breaker(req: LimitRequest, tier: string): BreakerCharge | undefined {
    const b = this.deps.policy.breaker;
    if (!b) return undefined;
    const cached = this.breakerCharges.get(tier);
    if (cached && cached.demand === req.newNumbers) return cached;
    const p = b.params;
    const charge: BreakerCharge = {
      key: 'breaker:global',
      demand: req.newNumbers,
      share: b.share(tier),
      windowMs: p.windowMs,
      alpha: p.alpha,
      initialBaseline: p.initialBaseline,
      ratio: p.ratio,
      minimum: p.minimum,
      holdMs: p.holdMs,
      shadow: p.shadow,
    };
    // Tiers are the policy's few names: one entry each.
    this.breakerCharges.set(tier, charge);
    return charge;
  }

}

/** The charge of one layer's bucket for `subject`, sized by the caller's tier's `limit`. */
export function chargeOf(layer: CompiledLayer, limit: CompiledLimit, subject: string, cost: number): Charge {
  const charge: Charge = {
    layer: layer.id,
    scope: layer.scope,
    key: `${layer.id}:${subject}`,
    cost,
    burst: limit.burst,
    rate: limit.rate,
    perMs: limit.perMs,
    keep: layer.keep,
    shadow: layer.shadow,
  };
  if (limit.challengeBelow !== undefined) charge.challengeBelow = limit.challengeBelow;
  return charge;
}

/** The bucket subject of a layer for this call; undefined when the call has none (an unrouted address). */
function subjectOf(layer: CompiledLayer, req: LimitRequest, ip: IpInfo | undefined): string | undefined {
  switch (layer.subject) {
    case 'account':
      return req.accountId;
    case 'device':
      // Leaving X-Device-Id out must not skip the layer: such calls share one key per account,
      // with the device layer's limits, so the header is never worth dropping. The spaces keep the
      // key apart from every device id a client can send (the header allows no space).
      return req.deviceId ?? ` no device ${req.accountId}`;
    case 'ip':
      return ip?.ip ?? req.ip;
    case 'subnet':
      return ip?.subnet24 ?? ip?.subnet64;
    case 'subnet48':
      return ip?.subnet48;
    case 'asn':
      return ip?.asn !== undefined ? String(ip.asn) : undefined;
    case 'country':
      return ip?.country;
  }
}

import type { Logger } from 'pino';
import { lookupIp, type IpInfo, type IpIntel } from '../net/index.js';
import { AppError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { OutageLog, errorText } from '../util/outage.js';
import type { Challenges } from './challenges.js';
import type { LimitMetrics } from './metrics.js';
import type { CompiledLayer, CompiledPolicy, Network, Operation, TrustFacts } from '../policy/index.js';
import { LimitStoreError, type ApplyInput, type BreakerCharge, type Charge, type LimitStore } from './store.js';

/** What the limits need to know about one discovery call. */
export interface LimitRequest {
  accountId: string;
  deviceId?: string;
  ip: string;
  account: { createdAt: number; phoneRegion?: string };
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

const STRIKE_CACHE_MS = 60_000;
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
  private readonly strikeCache = new Map<string, { strikes: number; until: number }>();
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
    this.usesStrikes = deps.policy.source.tiers.some((t) => t.when?.maxStrikes !== undefined);
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
      if (this.usesStrikes) facts.strikes = this.cachedStrikes(strikeKey, now) ?? (await this.strikes(strikeKey, now));
      const tier = policy.tierOf(facts);
      const charges = this.charges(req, tier, ip);
      const challengePolicy = policy.challenge ?? FALLBACK_CHALLENGE;
      const difficulty = challengePolicy.difficulty(tier);
      const proof = req.proof !== undefined && (policy.challenge || req.forceChallenge) ? await this.deps.challenges.redeem(req.accountId, req.proof, difficulty, now) : false;
      // A bucket that can never hold the cost refuses the call whatever the proof: asking for work
      // first would only have the caller solve a puzzle to be refused.
      if (req.forceChallenge && !proof && !charges.some((c) => !c.shadow && c.burst < c.cost)) {
        const challenge = this.deps.challenges.issue(req.accountId, difficulty, challengePolicy.ttlMs, now);
        throw new AppError('challenge_required', 'solve the proof-of-work and repeat the call with the X-Findguard-Proof header', { challenge, scope: 'account' });
      }
      const input: ApplyInput = { charges, proof, strikeKey, strikeWindowMs: policy.strikeWindowMs, now };
      const breaker = this.breaker(req, tier);
      if (breaker) input.breaker = breaker;
      const result = await store.apply(input);
      this.storeOutage.ok();
      if (this.usesStrikes) this.rememberStrikes(strikeKey, result.strikes, now);
      metrics.record(req.operation, result);
      if (result.outcome === 'refused') {
        const retryAfter = Math.max(1, Math.ceil((result.retryAfterMs ?? 1000) / 1000));
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
    } catch (err) {
      if (!(err instanceof LimitStoreError)) throw err;
      return this.storeFailed(req, err, network, ip);
    }
  }

  private storeFailed(req: LimitRequest, err: LimitStoreError, network: Network, ip: IpInfo | undefined): LimitVerdict {
    this.storeOutage.failed(err);
    const layers = this.deps.policy.layers.filter((l) => l.on.has(req.operation));
    const closed = this.deps.policy.breaker !== undefined || layers.some((l) => !l.failOpen);
    this.deps.metrics.unavailable(req.operation);
    if (closed) throw new AppError('unavailable', 'discovery is unavailable for a moment; retry later', undefined, { 'retry-after': '5' });
    return { tier: 'unknown', network, ...(ip ? { ip } : {}) };
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

  /** The strike count read within STRIKE_CACHE_MS, without a turn of the microtask queue. */
  private cachedStrikes(key: string, now: number): number | undefined {
    const hit = this.strikeCache.get(key);
    return hit && hit.until > now ? hit.strikes : undefined;
  }

  private async strikes(key: string, now: number): Promise<number> {
    const strikes = await this.deps.store.strikes(key, now);
    this.rememberStrikes(key, strikes, now);
    return strikes;
  }

  /** Updates the entry in place when there is one: no new object or map insertion per call. */
  private rememberStrikes(key: string, strikes: number, now: number): void {
    const hit = this.strikeCache.get(key);
    if (hit) {
      hit.strikes = strikes;
      hit.until = now + STRIKE_CACHE_MS;
      return;
    }
    if (this.strikeCache.size >= 100_000) this.strikeCache.delete(this.strikeCache.keys().next().value!);
    this.strikeCache.set(key, { strikes, until: now + STRIKE_CACHE_MS });
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
      // The same limit object means the same tier's limit (limitFor answers the policy's own).
      if (cached && cached.cost === cost && cached.burst === limit.burst && cached.rate === limit.rate && cached.perMs === limit.perMs && cached.challengeBelow === limit.challengeBelow) {
        out.push(cached);
        continue;
      }
      const charge: Charge = { layer: layer.id, scope: layer.scope, key: `${layer.id}:${subject}`, cost, burst: limit.burst, rate: limit.rate, perMs: limit.perMs, shadow: layer.shadow };
      if (limit.challengeBelow !== undefined) charge.challengeBelow = limit.challengeBelow;
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

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Compile } from 'typebox/compile';
import { parse as parseYaml } from 'yaml';
import { normalizeIp } from '../net/index.js';
import { compileAbusePolicy } from './abuse.js';
import { compileAlertsPolicy } from './alerts.js';
import { BUILT_IN_POLICIES } from './builtin.js';
import { durationMs } from './duration.js';
import { OPERATIONS, Policy, scopeOf, type Layer, type Limit, type Network, type Operation, type Scope, type Subject, type TierCondition } from './schema.js';

export interface CompiledLimit {
  burst: number;
  /** Tokens per millisecond. */
  rate: number;
  /** The refill period (ms): also the Retry-After of a bucket that never refills. */
  perMs: number;
  challengeBelow?: number;
}

export interface CompiledLayer {
  id: string;
  subject: Subject;
  scope: Scope;
  cost: 'new' | 'calls';
  on: ReadonlySet<Operation>;
  shadow: boolean;
  failOpen: boolean;
  /** The limit for a tier; undefined: the tier is not limited by this layer. */
  limitFor(tier: string): CompiledLimit | undefined;
  /** How long a bucket of this layer is kept (see BucketKeep): the same for every tier. */
  keep: BucketKeep;
}

/**
 * How long a bucket is kept once a charge leaves it `left` tokens: (burst - left) / rate past its
 * ts (rate 0: as long as the stores keep anything, a year). A layer's key is charged at every tier its
 * subject falls into (the tier follows the caller's network, which the caller picks), and a bucket
 * that is gone reads as full at whichever tier reads it next, so it must outlive the time it needs
 * to fill at every tier, not only at the tier that wrote it. That time, max over tiers of (burst -
 * left) / rate, is convex in `left`, so it lies under its chord from (0, the slowest tier's fill
 * time) to (the largest burst, 0): `burst` is the largest burst, `rate` that burst over the
 * slowest fill time. A tier that never refills gives the layer rate 0; one with no burst is full
 * at any level and counts for nothing.
 */
export interface BucketKeep {
  burst: number;
  rate: number;
}

export interface TrustFacts {
  accountAgeMs: number;
  network: Network;
  phoneCountry?: string;
  strikes: number;
  /** The app attested the device the account signed up from. */
  signupAttested?: boolean;
}

export interface CompiledTier {
  name: string;
  matches(f: TrustFacts): boolean;
}

/** The global breaker's settings, as compiled from the policy (the limit stores apply them). */
export interface BreakerParams {
  windowMs: number;
  /** Weight of a finished window in the baseline: 1 - 2^(-window/half-life). */
  alpha: number;
  initialBaseline: number;
  ratio: number;
  minimum: number;
  holdMs: number;
  shadow: boolean;
}

export interface CompiledBreaker {
  params: BreakerParams;
  /** Usable share of each bucket while tripped, by tier (1 when unaffected). */
  share(tier: string): number;
}

export interface CompiledPolicy {
  name: string;
  source: Policy;
  tiers: CompiledTier[];
  layers: CompiledLayer[];
  breaker?: CompiledBreaker;
  challenge?: { ttlMs: number; difficulty(tier: string): number };
  strikeWindowMs: number;
  /** How long a sync token is honoured. */
  syncTokenLifetimeMs: number;
  /** What a discovery call whose client address cannot be read gets. */
  unreadableAddress: 'refuse' | 'hosting';
  /** The network class of a caller's address under this policy's hosting overrides. */
  networkOf(ip: string, info: { asn?: number; hosting: boolean } | undefined): Network;
  tierOf(f: TrustFacts): string;
  /**
   * The least account age, from f's on, at which the account's tier satisfies `ok` if nothing but
   * its age changes; undefined if no age does. What a refusal that no wait within the tier can lift
   * (a budget of 0) tells the caller to wait for.
   */
  ageUntil(f: TrustFacts, ok: (tier: string) => boolean): number | undefined;
}

export class PolicyError extends Error {
  constructor(
    readonly source: string,
    message: string,
  ) {
    super(`policy ${source}: ${message}`);
    this.name = 'PolicyError';
  }
}

const checkPolicy = Compile(Policy);

function compileLimit(l: Limit): CompiledLimit {
  const perMs = durationMs(l.per);
  if (!(perMs > 0)) throw new RangeError('per must be longer than 0');
  return { burst: l.burst, rate: l.refill / perMs, perMs, ...(l.challengeBelow !== undefined ? { challengeBelow: l.challengeBelow } : {}) };
}

function compileCondition(c: TierCondition | undefined): (f: TrustFacts) => boolean {
  if (!c) return () => true;
  const below = c.accountAgeBelow !== undefined ? durationMs(c.accountAgeBelow) : undefined;
  const atLeast = c.accountAgeAtLeast !== undefined ? durationMs(c.accountAgeAtLeast) : undefined;
  const inSet = c.phoneCountryIn ? new Set(c.phoneCountryIn) : undefined;
  const notIn = c.phoneCountryNotIn ? new Set(c.phoneCountryNotIn) : undefined;
  return (f) =>
    (c.network === undefined || c.network.includes(f.network)) &&
    (below === undefined || f.accountAgeMs < below) &&
    (atLeast === undefined || f.accountAgeMs >= atLeast) &&
    (inSet === undefined || (f.phoneCountry !== undefined && inSet.has(f.phoneCountry))) &&
    (notIn === undefined || f.phoneCountry === undefined || !notIn.has(f.phoneCountry)) &&
    (c.noPhoneCountry === undefined || (f.phoneCountry === undefined) === c.noPhoneCountry) &&
    (c.maxStrikes === undefined || f.strikes <= c.maxStrikes) &&
    (c.signupAttested === undefined || (f.signupAttested === true) === c.signupAttested);
}

function compileLayer(layer: Layer, tierNames: ReadonlySet<string>, source: string): CompiledLayer {
  const byTier = new Map<string, CompiledLimit | undefined>();
  for (const [tier, limit] of Object.entries(layer.limits)) {
    if (tier !== 'default' && !tierNames.has(tier)) throw new PolicyError(source, `layer ${layer.id} sets limits for unknown tier "${tier}"`);
    try {
      byTier.set(tier, limit === null ? undefined : compileLimit(limit));
    } catch (err) {
      throw new PolicyError(source, `layer ${layer.id}, tier ${tier}: ${(err as Error).message}`);
    }
  }
  const fallback = byTier.get('default');
  const limitFor = (tier: string): CompiledLimit | undefined => (byTier.has(tier) ? byTier.get(tier) : fallback);
  let keepBurst = 0;
  let fillMs = 0;
  for (const tier of tierNames) {
    const l = limitFor(tier);
    if (!l || !(l.burst > 0)) continue;
    keepBurst = Math.max(keepBurst, l.burst);
    fillMs = Math.max(fillMs, l.rate > 0 ? l.burst / l.rate : Infinity);
  }
  return {
    id: layer.id,
    subject: layer.subject,
    scope: scopeOf(layer.subject),
    cost: layer.cost,
    on: new Set(layer.on ?? OPERATIONS),
    shadow: layer.shadow ?? false,
    failOpen: layer.onStoreError === 'open',
    limitFor,
    // With no burst at any tier nothing is ever charged, so no bucket is written.
    keep: { burst: keepBurst, rate: keepBurst > 0 && fillMs < Infinity ? keepBurst / fillMs : 0 },
  };
}

function checkTierNames(names: string[], record: Record<string, unknown>, what: string, source: string): void {
  for (const k of Object.keys(record)) {
    if (k !== 'default' && !names.includes(k)) throw new PolicyError(source, `${what} names unknown tier "${k}"`);
  }
}

function loadTorLists(files: readonly string[], baseDir: string | undefined, source: string): Set<string> {
  const out = new Set<string>();
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(baseDir ? resolve(baseDir, f) : f, 'utf8');
    } catch (err) {
      throw new PolicyError(source, `torExitLists: cannot read ${f} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      try {
        out.add(normalizeIp(line));
      } catch {
        throw new PolicyError(source, `torExitLists: ${f} has a line that is not an IP address`);
      }
    }
  }
  return out;
}

/** Checks a parsed policy (schema, then cross-references) and prepares it for the request path. */
export function compilePolicy(input: unknown, source = 'policy', baseDir?: string): CompiledPolicy {
  if (!checkPolicy.Check(input)) {
    const first = [...checkPolicy.Errors(input)][0];
    throw new PolicyError(source, first ? `${first.instancePath || '/'} ${first.message}` : 'invalid');
  }
  const policy = input;
  const names = policy.tiers.map((t) => t.name);
  if (new Set(names).size !== names.length) throw new PolicyError(source, 'tier names must be unique');
  if (names.includes('default')) throw new PolicyError(source, '"default" is reserved for limits of tiers not named');
  const last = policy.tiers[policy.tiers.length - 1]!;
  if (last.when !== undefined) throw new PolicyError(source, `the last tier ("${last.name}") must have no conditions, so every caller has a tier`);
  const ids = policy.layers.map((l) => l.id);
  if (new Set(ids).size !== ids.length) throw new PolicyError(source, 'layer ids must be unique');
  const tierSet = new Set(names);
  const layers = policy.layers.map((l) => compileLayer(l, tierSet, source));
  const tiers: CompiledTier[] = policy.tiers.map((t) => ({ name: t.name, matches: compileCondition(t.when) }));
  const ageBounds = [
    ...new Set(policy.tiers.flatMap((t) => [t.when?.accountAgeBelow, t.when?.accountAgeAtLeast]).flatMap((d) => (d === undefined ? [] : [durationMs(d)]))),
  ].sort((a, b) => a - b);

  let breaker: CompiledBreaker | undefined;
  if (policy.breaker) {
    const b = policy.breaker;
    checkTierNames(names, b.tighten, 'breaker.tighten', source);
    const windowMs = durationMs(b.window);
    const half = durationMs(b.learnHalfLife);
    if (!(windowMs > 0) || !(half > 0)) throw new PolicyError(source, 'breaker window and learnHalfLife must be longer than 0');
    const tighten = new Map(Object.entries(b.tighten));
    const fallback = tighten.get('default') ?? 1;
    breaker = {
      params: {
        windowMs,
        alpha: 1 - 2 ** (-windowMs / half),
        initialBaseline: b.initialBaseline,
        ratio: b.ratio,
        minimum: b.minimum,
        holdMs: durationMs(b.hold),
        shadow: b.shadow ?? false,
      },
      share: (tier) => tighten.get(tier) ?? fallback,
    };
  }
  let challenge: CompiledPolicy['challenge'];
  if (policy.challenge) {
    const c = policy.challenge;
    checkTierNames(names, c.difficulty, 'challenge.difficulty', source);
    const byTier = new Map(Object.entries(c.difficulty));
    const fallback = byTier.get('default') ?? 20;
    challenge = { ttlMs: durationMs(c.ttl), difficulty: (tier) => byTier.get(tier) ?? fallback };
  } else if (layers.some((l) => names.some((t) => l.limitFor(t)?.challengeBelow !== undefined))) {
    throw new PolicyError(source, 'a layer asks for challenges (challengeBelow) but the policy has no challenge section');
  }
  if (policy.abuse) {
    try {
      compileAbusePolicy(policy.abuse);
    } catch (err) {
      throw new PolicyError(source, `abuse: ${(err as Error).message}`);
    }
  }
  try {
    compileAlertsPolicy(policy.alerts);
  } catch (err) {
    throw new PolicyError(source, `alerts: ${(err as Error).message}`);
  }
  const tor = loadTorLists(policy.torExitLists ?? [], baseDir, source);
  const hostingAsns = new Set(policy.hostingAsns ?? []);
  const nonHostingAsns = new Set(policy.nonHostingAsns ?? []);
  return {
    name: policy.name,
    source: policy,
    tiers,
    layers,
    ...(breaker ? { breaker } : {}),
    ...(challenge ? { challenge } : {}),
    strikeWindowMs: durationMs(policy.strikeWindow ?? '7d'),
    syncTokenLifetimeMs: durationMs(policy.syncTokenLifetime ?? '90d'),
    unreadableAddress: policy.unreadableAddress ?? 'refuse',
    networkOf: (ip, info) => {
      if (tor.has(ip)) return 'tor';
      // Not an address (UNREADABLE_ADDRESS, under unreadableAddress: hosting): the strictest network.
      if (!info) return 'hosting';
      if (info.asn !== undefined && hostingAsns.has(info.asn)) return 'hosting';
      return info.hosting && !(info.asn !== undefined && nonHostingAsns.has(info.asn)) ? 'hosting' : 'other';
    },
    tierOf: (f) => tiers.find((t) => t.matches(f))!.name,
    ageUntil: (f, ok) => {
      const tierAt = (accountAgeMs: number) => tiers.find((t) => t.matches({ ...f, accountAgeMs }))!.name;
      if (ok(tierAt(f.accountAgeMs))) return f.accountAgeMs;
      // A tier can change with age only where some tier's age bound lies.
      for (const age of ageBounds) if (age > f.accountAgeMs && ok(tierAt(age))) return age;
      return undefined;
    },
  };
}

/** A built-in policy by name, or a JSON/YAML policy file. */
export function loadPolicy(nameOrFile: string): CompiledPolicy {
  // Own keys only: `constructor` or `__proto__` indexes Object.prototype, not a policy.
  const builtIn = Object.hasOwn(BUILT_IN_POLICIES, nameOrFile) ? BUILT_IN_POLICIES[nameOrFile] : undefined;
  if (builtIn) return compilePolicy(structuredClone(builtIn), nameOrFile);
  let text: string;
  try {
    text = readFileSync(nameOrFile, 'utf8');
  } catch {
    throw new PolicyError(nameOrFile, `no built-in policy of that name (${Object.keys(BUILT_IN_POLICIES).join(', ')}) and no readable file`);
  }
  let parsed: unknown;
  try {
    parsed = /\.json$/i.test(nameOrFile) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new PolicyError(nameOrFile, `not valid ${/\.json$/i.test(nameOrFile) ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  return compilePolicy(parsed, nameOrFile, dirname(nameOrFile));
}

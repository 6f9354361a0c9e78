import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { JsonValue } from '../incidents/common.js';
import type { CallerSignup, CallOrigin, DecisionCache, Incidents, StandingDecision } from '../incidents/index.js';
import type { ClusterEvidence } from './cluster/score.js';
import { answersCheck } from './detectors/answers.js';
import { belowBookCheck, type FreshNumbers } from './detectors/below-book.js';
import { realtimeCheck, scatteredBatch, type CallerState, type RealtimeVerdict } from './detectors/realtime.js';
import { AbuseEngine, type Decision, type Enforcer } from './engine.js';
import { AnswerPools, type PoolOutcome } from './answer-pool.js';
import { FirstSyncClaims } from './first-sync.js';
import type { LookupEvent } from './events.js';
import { regionCallingCode } from './features/blocks.js';
import { HitRates } from './hit-rates.js';
import type { EventHandler } from './pipeline.js';
import { DEFAULT_ABUSE_POLICY, durationMs, type AbusePolicy } from '../policy/index.js';
import { resumeEngine, syncReinstatements, type ResumeOptions } from './resume.js';
import { recordShadow } from './shadow.js';
import type { SignupEvent } from './signup.js';

export interface AbuseServiceOptions {
  /** Default: DEFAULT_ABUSE_POLICY in shadow mode (WIRED_DEFAULT_POLICY). */
  policy?: AbusePolicy;
  /** Evaluate at most this often, in event time (default one minute). */
  evaluateEveryMs?: number;
  /** How much recent history a consumer replays when it starts (resume.ts). */
  resume?: ResumeOptions;
}

const THROTTLE_FACTOR = 4;

/** How long a caller whose batch was a dense run is told to wait. */
const DENY_RETRY_S = 3600;

/**
 * A limits policy without an `abuse` section (signal-like, hagen-incremental, none: baselines that
 * measure limits alone) runs the engine in shadow mode: its decisions are logged and counted, none
 * is enforced. The built-in default policy carries its own section, enforced.
 */
export const WIRED_DEFAULT_POLICY: AbusePolicy = { ...DEFAULT_ABUSE_POLICY, mode: 'shadow' };

/** A recorded decision as the real-time check reads it; a sign-up hold denies like its cluster's suspension. */
function callerStateOf(d: StandingDecision | undefined): CallerState | undefined {
  if (!d) return undefined;
  const action = d.action === 'suspend' ? (d.clusterId !== null ? 'suspend-cluster' : 'suspend-account') : d.action === 'hold-signups' ? 'suspend-cluster' : d.action;
  return d.clusterId !== null ? { action, clusterId: d.clusterId } : { action };
}

/** Carries the engine's decisions out: records, suspensions and campaigns through src/incidents. */
export function incidentsEnforcer(incidents: Incidents, clock: { now(): number }, reinstateGraceMs = durationMs(DEFAULT_ABUSE_POLICY.actions.reinstateGrace)): Enforcer {
  // An account an operator reinstated within the grace is left alone, checked where the action is
  // recorded: the engine hears of reinstatements only when an evaluation begins, and one made
  // while its decisions were in flight must not be undone by them.
  const spared = () => clock.now() - reinstateGraceMs;
  // decidedAt: a decision made on a backlog's old events runs its full length from when it is recorded.
  const opts = (d: Decision) => ({ actor: 'engine', reason: d.reason, evidence: d.evidence as unknown as JsonValue, clusterId: d.clusterId, decidedAt: d.at, sparedIfReinstatedSince: spared() });
  return {
    throttle: async (ids, until, d) => void (await incidents.enforcer.throttle(ids, until, opts(d))),
    challenge: async (ids, until, d) => void (await incidents.enforcer.challenge(ids, until, opts(d))),
    suspend: async (all, reason, evidence: ClusterEvidence, decision?: Decision) => {
      const json = evidence as unknown as JsonValue;
      const since = spared();
      const reinstated = await incidents.enforcer.reinstatedAmong(all, since);
      const ids = all.filter((id) => !reinstated.has(id));
      if (ids.length === 0) return;
      // The campaign first, so the suspension records point at it and exposures are computed from
      // the events as they were when the cluster was caught.
      const { campaignId } = await incidents.campaigns.openCampaign({
        clusterId: evidence.clusterId,
        accountIds: ids,
        score: decision?.score ?? 1,
        evidence: json,
        now: clock.now(),
      });
      const holds = decision?.holds;
      await incidents.enforcer.suspend(ids, { actor: 'engine', reason, evidence: json, clusterId: evidence.clusterId, campaignId, sparedIfReinstatedSince: since, ...(holds ? { holds } : {}) });
    },
  };
}

/**
 * The abuse engine as an event handler: events feed its features and detectors as they are
 * processed; once a minute of event time has passed it evaluates and acts. Event time, not the
 * wall clock, so a replay (the simulator) decides exactly as live traffic would.
 */
export class AbuseService implements EventHandler {
  readonly engine: AbuseEngine;
  private readonly every: number;
  private last = Number.NEGATIVE_INFINITY;
  private readonly decisions: Counter<'action' | 'mode'>;

  private readonly db: Kysely<Database>;
  private readonly clock: { now(): number };
  /** What the request path enforces: the recorded decisions, as this node knows them. */
  private readonly standing: DecisionCache;
  private readonly resumeOptions: ResumeOptions;
  /** Reinstatement actions already handed to the engine, by id. */
  private readonly reinstatements = new Map<string, number>();
  /** New accounts' one unjudged first sync, claimed in the database (first-sync.ts). */
  private readonly firstSyncs: FirstSyncClaims;
  /** Each account's book and later batches, pooled, in the database (answer-pool.ts). */
  private readonly pools: AnswerPools;

  constructor(
    deps: { db: Kysely<Database>; incidents: Incidents; clock: { now(): number }; logger: Logger; registry: Registry },
    options: AbuseServiceOptions = {},
  ) {
    this.db = deps.db;
    this.clock = deps.clock;
    this.standing = deps.incidents.decisions;
    this.resumeOptions = options.resume ?? {};
    const policy = options.policy ?? WIRED_DEFAULT_POLICY;
    this.engine = new AbuseEngine({ policy, enforcer: incidentsEnforcer(deps.incidents, deps.clock, durationMs(policy.actions.reinstateGrace)) });
    this.hitRates = new HitRates(deps.db, this.engine.policy.realtime.answers, deps.logger.child({ component: 'abuse' }));
    this.every = options.evaluateEveryMs ?? 60_000;
    this.logger = deps.logger.child({ component: 'abuse' });
    this.firstSyncs = new FirstSyncClaims(deps.db, this.logger);
    this.pools = new AnswerPools(deps.db, this.logger);
    this.decisions = new Counter({
      name: 'findguard_abuse_decisions_total',
      help: 'Decisions of the abuse engine by action; mode shadow means logged, not enforced',
      labelNames: ['action', 'mode'],
      registers: [deps.registry],
    });
    this.realtimeVerdicts = new Counter({
      name: 'findguard_abuse_realtime_total',
      help: 'Discovery calls the real-time abuse check would deny or challenge (mode shadow: counted, let through)',
      labelNames: ['verdict', 'reason', 'mode'],
      registers: [deps.registry],
    });
  }

  private readonly logger: Logger;
  /** Each country's book hit rate: written by the engine that learns it, read by every serving node. */
  private readonly hitRates: HitRates;
  private readonly realtimeVerdicts: Counter<'verdict' | 'reason' | 'mode'>;

  /**
   * The real-time tier (BotMaker's): what can be decided from the request itself, before anything
   * is answered. In shadow mode the verdict is counted and logged, and the call goes on.
   */
  private realtime(accountId: string, numbers: readonly string[], state: CallerState | undefined, phoneRegion: string | undefined): RealtimeVerdict {
    const v = realtimeCheck(numbers, state, this.engine.policy.realtime, regionCallingCode(phoneRegion));
    if (v.verdict === 'allow') return v;
    const mode = this.engine.policy.shadow ? 'shadow' : 'enforce';
    this.realtimeVerdicts.inc({ verdict: v.verdict, reason: v.reason, mode });
    this.logger.info({ account: accountId, verdict: v.verdict, reason: v.reason, mode, ...(v.run ? { run: v.run.numbers, coverage: v.run.coverage } : {}), ...(v.scatter ? { foreign: v.scatter.foreign, scattered: v.scatter.scattered, countries: v.scatter.countries } : {}) }, 'real-time abuse check');
    return mode === 'shadow' ? { verdict: 'allow' } : v;
  }

  /**
   * The real-time tier in the request path: throws for a call the engine denies (a caller
   * suspended, or held as a suspended farm's newcomer: 403 as for any suspended account; a dense
   * run of consecutive numbers: 429 at account scope, so nothing is answered and nothing charged);
   * otherwise whether it wants a proof-of-work, and what a new number costs the caller (more while
   * the engine throttles it). What stands against the caller comes from the recorded decisions, so
   * every node enforces what any engine decided; when this node cannot read them it fails closed.
   */
  guard(
    accountId: string,
    numbers: readonly string[],
    now: number,
    phoneRegion: string | undefined,
    account: CallerSignup,
    origin?: () => CallOrigin,
  ): { forceChallenge: boolean; costFactor: number } {
    const shadow = this.engine.policy.shadow;
    // Fails closed in either mode: an operator's decision holds under a shadow engine too, and
    // while the decisions cannot be read nobody can say one does not stand.
    if (!this.standing.readable()) {
      throw new AppError('unavailable', 'discovery is unavailable for a moment; retry later', undefined, { 'retry-after': '5' });
    }
    const standing = this.standing.standing(accountId, account, now);
    const state = callerStateOf(standing);
    // A shadow engine's own decisions are trials of the engine; an operator's (non-trial) decision
    // on an account is enforced whatever the mode, as on an origin below: one that did nothing
    // while the console listed it "active" would be a lie to the analyst.
    const enforced = !shadow || standing?.source === 'operator';
    // Operators' decisions on where calls come from hold whatever the engine's mode: an operator
    // decision that did nothing would be a lie. Read only while one stands (the origin costs a lookup).
    const onOrigin = origin && this.standing.hasOriginDecisions() ? this.standing.originStanding(origin(), now) : undefined;
    if (onOrigin?.action === 'suspend' && state?.action !== 'suspend-account' && state?.action !== 'suspend-cluster') {
      const retryAfter = onOrigin.expiresAt === null ? DENY_RETRY_S : Math.max(1, Math.min(DENY_RETRY_S, Math.ceil((onOrigin.expiresAt - now) / 1000)));
      throw new AppError('rate_limited', 'calls from here are blocked for now; retry later', { retryAfter, scope: onOrigin.scope }, { 'retry-after': String(retryAfter) });
    }
    // A throttled account (or origin) pays THROTTLE_FACTOR times per new number: its budgets cut to a quarter.
    const costFactor = (state?.action === 'throttle' && enforced) || onOrigin?.action === 'throttle' ? THROTTLE_FACTOR : 1;
    const originChallenge = onOrigin?.action === 'challenge';
    if (shadow && enforced) {
      if (state?.action === 'suspend-account' || state?.action === 'suspend-cluster') throw new AppError('account_suspended', 'account is suspended');
      if (state?.action === 'challenge') return { forceChallenge: true, costFactor };
    }
    const v = this.realtime(accountId, numbers, state, phoneRegion);
    if (v.verdict === 'allow') return { forceChallenge: originChallenge, costFactor };
    if (v.verdict === 'challenge') return { forceChallenge: true, costFactor };
    if (v.reason === 'suspended-cluster') throw new AppError('account_suspended', 'account is suspended');
    const why = v.reason === 'scattered-list' ? 'this batch looks like a list spread over many countries' : 'this batch looks like a scan of consecutive numbers';
    throw new AppError('rate_limited', `${why}; retry later`, { retryAfter: DENY_RETRY_S, scope: 'account' }, { 'retry-after': String(DENY_RETRY_S) });
  }

  /**
   * After matching, before answering: a sync whose new numbers match far more than a book of the
   * caller's country does (detectors/answers.ts) is refused with 429 at account scope. The call was
   * charged before it was matched, so the refusal spends what an answer would have: a free refusal
   * that depends on the matches would be an oracle of them. Nothing is answered. The rate comes from
   * table hit_rates (what the engine learned, read by every node), not from this node's engine. A
   * batch scattered over many countries (the scatter bars, judged here and no longer before
   * matching) needs less excess: spread with a list's hit rate is a list, spread alone an expat.
   */
  async answers(
    accountId: string,
    phoneRegion: string | undefined,
    accountCreatedAt: number,
    numbers: readonly string[],
    newNumbers: number,
    matchedAccounts: readonly string[],
    now: number,
    fresh?: FreshNumbers,
  ): Promise<void> {
    const newMatched = matchedAccounts.length;
    // Both rules ask whether the batch is scattered (the scatter bars): judged once, when first asked.
    let spread: boolean | undefined;
    const scattered = (): boolean => (spread ??= scatteredBatch(numbers, regionCallingCode(phoneRegion), this.engine.policy.realtime.scatter) !== undefined);
    if (fresh) await this.belowBook(accountId, phoneRegion, accountCreatedAt, fresh, scattered, now);
    const p = this.engine.policy.realtime.answers;
    if (!p) return;
    // A new account's first sync is not judged: on a launch day a country's joiners find friends
    // who joined the same week, faster than any learned rate follows (the simulator's launch-day
    // refused 6 of 1,043 first syncs and suspended 6 people when they were, before books were
    // overdispersed). Its later syncs are: sleepers synced their fleet-mates for days, then worked a
    // list from accounts under 7 days old, one answered batch each (25.2% of their targets at 20,000
    // accounts). A joiner's later syncs carry its token, so only the contacts added since are new.
    // One per account, claimed in the database before judging: one kept in a node's memory came
    // back with every restart and every other node, a fresh answered slice of a list for a sleeper.
    const age = this.engine.policy.features.newAccountAgeMs;
    const firstSync = now - accountCreatedAt < age && (await this.firstSyncs.claim(accountId, accountCreatedAt, now, age));
    // A call with no new match cannot add to what the caller learns: nothing to judge.
    if (newMatched === 0) return;
    await this.hitRates.fresh(now);
    const rate = this.hitRates.rate(phoneRegion);
    const mode = this.engine.policy.shadow ? 'shadow' : 'enforce';
    if (!firstSync && newNumbers >= p.minNumbers && newMatched >= p.minExcess) {
      const v = answersCheck(newNumbers, newMatched, rate, p, scattered());
      if (v.excessive) {
        this.realtimeVerdicts.inc({ verdict: 'deny', reason: 'answers', mode });
        this.logger.info({ account: accountId, verdict: 'deny', reason: 'answers', mode, scattered: scattered(), numbers: newNumbers, matched: newMatched, expected: Math.round(v.expected), z: Number(v.z.toFixed(1)) }, 'real-time abuse check');
        if (mode === 'enforce') {
          throw new AppError('rate_limited', 'this batch matches far more numbers than an address book does; retry later', { retryAfter: DENY_RETRY_S, scope: 'account' }, { 'retry-after': String(DENY_RETRY_S) });
        }
      }
    }
    // The book and the batches after it, pooled (answer-pool.ts). A new account's first sync may
    // become its book; it is never refused here, since a pool is judged only after its book.
    const memoryMs = this.engine.policy.features.longHalfLifeMs * 4;
    let pooled: PoolOutcome;
    try {
      pooled = await this.pools.judge(accountId, newNumbers, matchedAccounts, now, memoryMs, rate, p);
    } catch (err) {
      // Answering without counting the batch would be the side door the pool closes.
      this.logger.warn({ account: accountId, err: err instanceof Error ? err.message : String(err) }, 'could not read or write the answer pool; the sync is refused');
      throw new AppError('unavailable', 'discovery is unavailable for a moment; retry later', undefined, { 'retry-after': '5' });
    }
    if (!pooled.refuse) return;
    if (!pooled.contended) {
      const v = pooled.verdict;
      this.realtimeVerdicts.inc({ verdict: 'deny', reason: 'pooled', mode });
      this.logger.info({ account: accountId, verdict: 'deny', reason: 'pooled', mode, numbers: v?.numbers, matched: v?.fresh, z: v ? Number(v.z.toFixed(1)) : undefined }, 'real-time abuse check');
      if (mode === 'shadow') return;
    }
    throw new AppError(
      'rate_limited',
      pooled.contended ? 'too many syncs at once; retry later' : 'this batch and the ones before it match far more numbers than an address book does; retry later',
      { retryAfter: DENY_RETRY_S, scope: 'account' },
      { 'retry-after': String(DENY_RETRY_S) },
    );
  }

  /** The retention job's: pools idle past the memory they are judged with are cleared (answer-pool.ts). */
  purgeIdlePools(now: number): Promise<number> {
    return this.pools.purgeIdle(now - this.engine.policy.features.longHalfLifeMs * 4);
  }

  /**
   * After matching, before answering: a sync whose new foreign numbers find far fewer members than
   * books of their countries do (detectors/below-book.ts: random numbers, the census pattern) is
   * refused like the answers rule's, charged and unanswered. The caller's own country's numbers,
   * where a launch-day joiner's book hits low, are never judged. A new account's batch is judged
   * only when it is also scattered (the scatter bars): a joiner's relatives abroad, in a country or
   * two, may all be off the app, and a first sync must pass; a census is the whole world's numbers.
   * An aged account's is judged whatever its spread, so a scan of one foreign country is too; a
   * scattered batch is held to the looser scatteredRatio.
   */
  private async belowBook(accountId: string, phoneRegion: string | undefined, accountCreatedAt: number, fresh: FreshNumbers, isScattered: () => boolean, now: number): Promise<void> {
    const p = this.engine.policy.realtime.belowBook;
    if (!p || fresh.numbers.length < p.minNumbers) return;
    const scattered = isScattered();
    if (now - accountCreatedAt < this.engine.policy.features.newAccountAgeMs && !scattered) return;
    await this.hitRates.fresh(now);
    const v = belowBookCheck(fresh.numbers, (n) => fresh.matched.has(n), regionCallingCode(phoneRegion), (cc) => this.hitRates.rateOfCode(cc), p, scattered);
    if (!v.below) return;
    const mode = this.engine.policy.shadow ? 'shadow' : 'enforce';
    this.realtimeVerdicts.inc({ verdict: 'deny', reason: 'below-book', mode });
    this.logger.info({ account: accountId, verdict: 'deny', reason: 'below-book', mode, scattered, numbers: v.judged, matched: v.matched, expected: Math.round(v.expected), z: Number(v.z.toFixed(1)) }, 'real-time abuse check');
    if (mode === 'shadow') return;
    throw new AppError('rate_limited', 'this batch matches far fewer numbers than an address book does; retry later', { retryAfter: DENY_RETRY_S, scope: 'account' }, { 'retry-after': String(DENY_RETRY_S) });
  }

  /** EventHandler: a new account's sign-up context (the farming detector), wherever events are consumed. */
  async signup(event: SignupEvent): Promise<void> {
    this.engine.signup(event);
  }

  /**
   * This process starts consuming (or takes over from a dead consumer): rebuild the engine's
   * windows and ledger from the database before the first new event.
   */
  async resume(): Promise<void> {
    const now = this.clock.now();
    const started = Date.now();
    const r = await resumeEngine(this.db, this.engine, now, this.resumeOptions, this.reinstatements);
    this.logger.info({ ...r, ms: Date.now() - started }, 'abuse engine resumed from stored events and actions');
  }

  async handle(events: LookupEvent[]): Promise<void> {
    await this.engine.handle(events);
    let now = this.last;
    for (const e of events) if (e.at > now) now = e.at;
    if (now - this.last < this.every) return;
    this.last = now;
    await this.evaluate(now);
  }

  async evaluate(now: number): Promise<Decision[]> {
    // Operators reinstate from any process (the CLI, another node): the engine hears of it here.
    await syncReinstatements(this.db, this.engine, now - this.engine.policy.actions.reinstateGraceMs, this.reinstatements);
    const decisions = await this.engine.evaluate(now);
    // Shadow mode: the verdicts are listed as "would", never enforced (incidents/shadow-decisions.ts).
    if (this.engine.policy.shadow) await recordShadow(this.db, decisions, now, this.logger);
    await this.publishHitRates(now);
    const mode = this.engine.policy.shadow ? 'shadow' : 'enforce';
    for (const d of decisions) {
      this.decisions.inc({ action: d.action, mode });
      // Account ids and the engine's own sentence; never numbers (events hold none).
      this.logger.info(
        { action: d.action, mode, accounts: d.accountIds.length, cluster: d.clusterId, score: d.score, applied: d.applied, ...(d.error ? { error: d.error } : {}) },
        d.reason,
      );
    }
    return decisions;
  }

  /** The engine's learned rates out to every serving node; a failed write is retried at the next evaluation. */
  private async publishHitRates(now: number): Promise<void> {
    if (!this.engine.policy.realtime.answers) return;
    try {
      await this.hitRates.publish(this.engine.store.countryHitRates(now), now);
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not write the hit rates');
    }
  }
}

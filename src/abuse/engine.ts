import type { SignupHold } from '../incidents/decisions.js';
import { Clusterer } from './cluster/clusterer.js';
import { scoreClusters, type ClusterEvidence, type ScoredCluster } from './cluster/score.js';
import { AnswersDetector } from './detectors/answers.js';
import { RevelationDetector, type RevealedFacts } from './detectors/revelation.js';
import { CoordinationDetector, type SuspicionOf } from './detectors/coordination.js';
import { ENUMERATION, EnumerationDetector, assessBehaviour, behaviourFinding } from './detectors/enumeration.js';
import { FarmingDetector } from './detectors/farming.js';
import type { CallerState } from './detectors/realtime.js';
import type { Detector, Finding, Observation } from './detectors/types.js';
import type { LookupEvent } from './events.js';
import { FeatureStore, type AccountState } from './features/store.js';
import type { EventHandler } from './pipeline.js';
import { compileAbusePolicy, DEFAULT_ABUSE_POLICY, type AbusePolicy, type CompiledAbusePolicy } from '../policy/index.js';
import type { SignupEvent } from './signup.js';

/**
 * The abuse engine: lookup and sign-up events in, feature store and detectors updated as they
 * arrive (the near-real-time tier); on `evaluate(now)` the detectors' findings become an evidence
 * graph, clusters, scores, and decisions per the policy, handed to an Enforcer. Decisions are
 * idempotent: an account already under an action at least as strong gets no second one.
 */

export type ActionKind = 'throttle' | 'challenge' | 'suspend-account' | 'suspend-cluster';
const LEVEL: Record<ActionKind, number> = { throttle: 1, challenge: 2, 'suspend-account': 3, 'suspend-cluster': 3 };

export interface Decision {
  action: ActionKind;
  accountIds: string[];
  clusterId: string;
  score: number;
  evidence: ClusterEvidence;
  /** One line for the audit log and the webhook. */
  reason: string;
  /** Until when a throttle or challenge holds (epoch ms); suspensions hold until an operator lifts them. */
  until?: number;
  at: number;
  /** false in shadow mode, or when the enforcer failed (then `error`; the next evaluation tries again). */
  applied: boolean;
  error?: string;
  /** Suspensions carried out: the devices and hosting addresses the accounts used, whose new sign-ups to hold (see signupHolds). */
  holds?: SignupHold[];
}

/**
 * What the engine asks of the service: the lead implements it over the directory, limits and outbox,
 * recording each decision where every serving node enforces it (a suspension's `decision.holds` too).
 */
export interface Enforcer {
  throttle(accountIds: readonly string[], until: number, decision: Decision): Promise<void>;
  challenge(accountIds: readonly string[], until: number, decision: Decision): Promise<void>;
  suspend(accountIds: readonly string[], reason: string, evidence: ClusterEvidence, decision?: Decision): Promise<void>;
}

export const noopEnforcer: Enforcer = {
  throttle: async () => {},
  challenge: async () => {},
  suspend: async () => {},
};

/** What a detector factory gets to build on. */
export interface DetectorContext {
  store: FeatureStore;
  policy: CompiledAbusePolicy;
  /** An account's own suspicion in [0, 1]: its enumeration score, or its context (new, hosting). */
  suspicion: SuspicionOf;
}

export interface AbuseEngineOptions {
  policy?: AbusePolicy;
  enforcer?: Enforcer;
  /** Adds to or replaces the default detectors (enumeration, coordination, farming, answers). */
  detectors?: (ctx: DetectorContext, defaults: Detector[]) => Detector[];
  /**
   * Cluster every evaluation from scratch on the original graphology code (cluster/reference.ts),
   * without the memo: the oracle the replay-equivalence tests hold the engine's fast path to.
   */
  reference?: boolean;
  /** A partition's engine: the accounts it keeps (default: all of them, a single engine). */
  owns?: (accountId: string) => boolean;
}

export interface Assessment {
  clusters: ScoredCluster[];
  decisions: Decision[];
  findings: number;
}

interface LedgerEntry {
  action: ActionKind;
  until: number;
  clusterId: string;
}

/** Event ids remembered against redelivery (the pipeline is at-least-once). */
const SEEN_IDS = 200_000;

export class AbuseEngine implements EventHandler {
  readonly policy: CompiledAbusePolicy;
  readonly store: FeatureStore;
  readonly detectors: readonly Detector[];
  private readonly enumeration: EnumerationDetector;
  private readonly enforcer: Enforcer;
  private readonly ledger = new Map<string, LedgerEntry>();
  private readonly reinstated = new Map<string, number>();
  private readonly seen = new Set<string>();
  private readonly seenRing: string[] = new Array<string>(SEEN_IDS);
  private seenNext = 0;
  private readonly clusterer: Clusterer;

  constructor(opts: AbuseEngineOptions = {}) {
    this.policy = compileAbusePolicy(opts.policy ?? DEFAULT_ABUSE_POLICY);
    this.enforcer = opts.enforcer ?? noopEnforcer;
    this.clusterer = new Clusterer(this.policy.cluster, opts.reference ?? false);
    this.store = new FeatureStore(this.policy);
    this.enumeration = new EnumerationDetector(this.store, this.policy);
    const ctx: DetectorContext = { store: this.store, policy: this.policy, suspicion: (acc, now) => this.suspicion(acc, now) };
    const defaults: Detector[] = [
      this.enumeration,
      new CoordinationDetector(this.store, this.policy, ctx.suspicion),
      new FarmingDetector(this.policy),
      new AnswersDetector(this.store, this.policy),
      new RevelationDetector(this.store, this.policy, opts.owns),
    ];
    this.detectors = opts.detectors ? opts.detectors(ctx, defaults) : defaults;
  }

  /** Evaluations that reused the last one's clusters, their evidence graph unchanged (tests, benchmarks). */
  get clusteringsReused(): number {
    return this.clusterer.reused;
  }

  /** EventHandler: a batch from the pipeline. Redelivered events are recognised by id and skipped. */
  async handle(events: LookupEvent[]): Promise<void> {
    for (const e of events) this.observe(e);
  }

  /** Takes one lookup event in; false if it was seen before. */
  observe(event: LookupEvent): boolean {
    if (this.seen.has(event.id)) return false;
    this.remember(event.id);
    const facts = this.store.observeLookup(event);
    const obs: Observation = { type: 'lookup', event, facts };
    for (const d of this.detectors) d.observe(obs);
    return true;
  }

  /** Takes a sign-up's context in (the app mirrors it when the account is created). */
  signup(event: SignupEvent): void {
    // The same sign-up twice is taken once: a rebuilt engine reads sign-ups back from the accounts
    // table (resume.ts), and the stream or queue may still deliver one of them afterwards (or
    // again, a redelivery). A second sign-up would count the account's hosting sign-up twice.
    const known = this.store.account(event.accountId)?.signup;
    if (known && known.at === event.at && known.ip === event.ip && known.deviceId === event.deviceId) return;
    const account = this.store.observeSignup(event);
    const obs: Observation = { type: 'signup', event, account };
    for (const d of this.detectors) d.observe(obs);
  }

  /**
   * A farm keeps signing up from the installations and hosting addresses its suspended accounts
   * used: a suspension holds new sign-ups on them (the request path denies such a newcomer for its
   * first hour, see SignupHold), or every new member would get its first calls in before the next
   * evaluation. Residential and carrier addresses do not count: strangers share those.
   */
  private signupHolds(accountIds: readonly string[]): SignupHold[] {
    const out: SignupHold[] = [];
    for (const accountId of accountIds) {
      const acc = this.store.account(accountId);
      if (!acc) continue;
      for (const device of acc.devices?.values ?? []) out.push({ accountId, scope: 'device', subject: device });
      const ips = new Set(acc.ips.values);
      if (acc.signup) ips.add(acc.signup.ip);
      // The address's own calls say whether it is a hosting (or Tor) address: the network is a function of it.
      for (const ip of ips) if ((this.store.infra('ip', ip)?.hostingCalls ?? 0) > 0) out.push({ accountId, scope: 'ip', subject: ip });
    }
    return out;
  }

  /**
   * A partition's revelation graph: judges the calls that named accounts of other partitions, with
   * what `facts` reads of them, once every partition has stored up to them or they have waited
   * `waitMs` on the `clock` (abuse/detectors/revelation.ts). Before evaluate().
   */
  async resolveRevealed(facts: RevealedFacts | undefined, storedUpTo: number | undefined, clock: number, waitMs: number): Promise<void> {
    for (const d of this.detectors) if (d instanceof RevelationDetector) await d.resolve(facts, storedUpTo, clock, waitMs);
  }

  /** Findings, clusters, scores and the decisions they call for, without acting on them. */
  assess(now: number): Assessment {
    this.store.expire(now);
    const findings: Finding[] = [];
    for (const d of this.detectors) for (const f of d.findings(now)) findings.push(f);
    const c = this.policy.cluster;
    const clustering = this.clusterer.cluster(findings);
    const groups: string[][] = [...clustering.clusters, ...clustering.singletons.map((s) => [s])];
    const clusters = scoreClusters(groups, findings, {
      weights: c.weights,
      detectorFloor: c.detectorFloor,
      aggregate: (ids) => this.aggregate(ids, now),
    });
    for (const cl of clusters) cl.id = cl.evidence.clusterId = this.stableId(cl);
    return { clusters, decisions: this.decide(clusters, now, tiedAccounts(findings, c.minLink, c.strongLink)), findings: findings.length };
  }

  /**
   * Assesses and acts: each new decision goes to the enforcer (not in shadow mode), which records
   * it for every serving node to enforce, and into the ledger, the engine's memory of what it did.
   */
  async evaluate(now: number): Promise<Decision[]> {
    const { decisions } = this.assess(now);
    for (const d of decisions) {
      if (!this.policy.shadow) {
        try {
          if (d.action === 'throttle') await this.enforcer.throttle(d.accountIds, d.until!, d);
          else if (d.action === 'challenge') await this.enforcer.challenge(d.accountIds, d.until!, d);
          else {
            d.holds = this.signupHolds(d.accountIds);
            await this.enforcer.suspend(d.accountIds, d.reason, d.evidence, d);
          }
          d.applied = true;
        } catch (err) {
          d.error = err instanceof Error ? err.message : String(err);
          continue;
        }
      }
      const until = d.until ?? Number.POSITIVE_INFINITY;
      for (const id of d.accountIds) this.ledger.set(id, { action: d.action, until, clusterId: d.clusterId });
    }
    for (const [id, e] of this.ledger) if (e.until <= now) this.ledger.delete(id);
    for (const [id, at] of this.reinstated) if (now - at >= this.policy.actions.reinstateGraceMs) this.reinstated.delete(id);
    return decisions;
  }

  /**
   * What the engine itself last did to an account, from its ledger (its escalation memory). Not what
   * serving nodes enforce: they read the recorded decisions (src/incidents/decision-cache.ts).
   */
  callerState(accountId: string, now: number): CallerState | undefined {
    const e = this.ledger.get(accountId);
    if (e && e.until > now) return { action: e.action, clusterId: e.clusterId };
    return undefined;
  }

  /** An action already in force (recorded before this process started consuming): see resume.ts. */
  restore(accountId: string, entry: { action: ActionKind; until: number; clusterId: string }): void {
    const current = this.ledger.get(accountId);
    if (current && LEVEL[current.action] > LEVEL[entry.action]) return;
    this.ledger.set(accountId, { ...entry });
  }

  /**
   * An operator lifted findguard's suspension: forget the action, and suspend the account again
   * automatically only after the grace period (lockouts must not be turned against real users).
   */
  reinstate(accountId: string, now: number): void {
    if ((this.reinstated.get(accountId) ?? Number.NEGATIVE_INFINITY) >= now) return;
    this.ledger.delete(accountId);
    this.reinstated.set(accountId, now);
  }

  private remember(id: string): void {
    const old = this.seenRing[this.seenNext];
    if (old !== undefined) this.seen.delete(old);
    this.seenRing[this.seenNext] = id;
    this.seenNext = (this.seenNext + 1) % SEEN_IDS;
    this.seen.add(id);
  }

  /** Enumeration score if any, else context: new accounts on hosting networks are where farms live. */
  private suspicion(acc: AccountState, now: number): number {
    // The evaluation's memo holds the decayed calls and hosting calls too (the same reads).
    const behaviour = this.enumeration.score(acc, now);
    const hosting = this.enumeration.hostingShare(acc, now) >= 0.5;
    const fresh = acc.ageAtLastMs < this.policy.features.newAccountAgeMs;
    const context = fresh && hosting ? 0.8 : hosting ? 0.4 : fresh ? 0.3 : 0;
    return Math.max(behaviour, context);
  }

  /** The cluster's members' behaviour summed: a scan split a hundred ways shows only in the sum. */
  private aggregate(ids: readonly string[], now: number): Finding | undefined {
    const accounts: AccountState[] = [];
    let from = Number.POSITIVE_INFINITY;
    let to = 0;
    for (const id of ids) {
      const acc = this.store.account(id);
      if (!acc) continue;
      accounts.push(acc);
      from = Math.min(from, acc.firstAt);
      to = Math.max(to, acc.lastAt);
    }
    // The members' behaviours come from the evaluation's memo: the detectors read them already.
    const sum = this.enumeration.behaviourSum(accounts, now);
    if (!sum) return undefined;
    const members = accounts.length;
    const hitRate = this.store.populationHitRate(now);
    const shortMs = this.policy.features.shortWindowMs;
    const a = assessBehaviour(sum, hitRate, this.policy, shortMs, false);
    if (a.score < this.policy.enumeration.minScore) return undefined;
    // The sentence only when read (a sample of evidence that acts), from the sum's numbers: its
    // dense blocks, every member's, would live as long as the finding.
    return behaviourFinding(
      { detector: ENUMERATION, kind: 'group', accountIds: [...ids], score: a.score, signals: a.signals.map((s) => s.name), from, to },
      `${members} accounts together`,
      sum,
      hitRate,
      this.policy,
      shortMs,
    );
  }

  /** Keeps a cluster's id across evaluations: the id most of its members were acted on under, if any. */
  private stableId(cl: ScoredCluster): string {
    const votes = new Map<string, number>();
    for (const id of cl.accountIds) {
      const e = this.ledger.get(id);
      if (e) votes.set(e.clusterId, (votes.get(e.clusterId) ?? 0) + 1);
    }
    let best = cl.id;
    let n = 0;
    for (const [id, v] of votes) if (v > n || (v === n && id < best)) [best, n] = [id, v];
    return best;
  }

  private decide(clusters: readonly ScoredCluster[], now: number, tied: ReadonlySet<string>): Decision[] {
    const p = this.policy.actions;
    const out: Decision[] = [];
    for (const cl of clusters) {
      const ev = cl.evidence;
      const wholeCluster = cl.accountIds.length >= p.suspendCluster.minMembers && ev.detectors.length >= p.suspendCluster.minDetectors && cl.score >= p.suspendCluster.score;
      const byAction = new Map<ActionKind, string[]>();
      let best = 0;
      for (const id of cl.accountIds) {
        const m = cl.members.get(id)!;
        // An operator judged this account organic: the same evidence must not act on it again
        // (not even a challenge) until the grace period ends; the limits still apply.
        if (now - (this.reinstated.get(id) ?? Number.NEGATIVE_INFINITY) < p.reinstateGraceMs) continue;
        let action: ActionKind | undefined;
        // A cluster's suspension reaches the members with evidence of their own; one that joined
        // only through weak links (Louvain over a shared network) is challenged at most.
        if (wholeCluster && tied.has(id)) action = 'suspend-cluster';
        else if (m.score >= p.suspendAccount.score && m.signals.length >= p.suspendAccount.minSignals) action = 'suspend-account';
        else {
          const s = Math.max(cl.score, m.score);
          action = s >= p.challenge.score ? 'challenge' : s >= p.throttle.score ? 'throttle' : undefined;
        }
        if (!action || this.levelOf(id, now) >= LEVEL[action]) continue;
        if (action === 'suspend-account') {
          out.push(this.decision('suspend-account', [id], cl, m.score, `account ${id}: ${m.explanation ?? ''} (score ${m.score.toFixed(2)})`, now));
          continue;
        }
        best = Math.max(best, m.score);
        let list = byAction.get(action);
        if (!list) byAction.set(action, (list = []));
        list.push(id);
      }
      for (const [action, ids] of byAction) {
        const score = action === 'suspend-cluster' ? cl.score : Math.max(cl.score, best);
        out.push(this.decision(action, ids, cl, score, this.reasonOf(cl, ids, score), now));
      }
    }
    return out;
  }

  private reasonOf(cl: ScoredCluster, ids: readonly string[], score: number): string {
    const ev = cl.evidence;
    if (cl.accountIds.length === 1) return `account ${ids[0]}: ${cl.members.get(ids[0]!)?.explanation ?? ev.samples[0] ?? ''} (score ${score.toFixed(2)})`;
    const what = ids.length === cl.accountIds.length ? `cluster ${cl.id} of ${ids.length} accounts` : `${ids.length} of ${cl.accountIds.length} accounts of cluster ${cl.id}`;
    return `${what}: ${ev.detectors.join(' + ') || 'weak evidence'} (score ${score.toFixed(2)}); ${ev.samples[0] ?? ''}`;
  }

  private decision(action: ActionKind, ids: string[], cl: ScoredCluster, score: number, reason: string, now: number): Decision {
    const p = this.policy.actions;
    const until = action === 'throttle' ? now + p.throttle.durationMs : action === 'challenge' ? now + p.challenge.durationMs : undefined;
    return { action, accountIds: ids, clusterId: cl.id, score, evidence: cl.evidence, reason, ...(until !== undefined ? { until } : {}), at: now, applied: false };
  }

  private levelOf(id: string, now: number): number {
    const e = this.ledger.get(id);
    return e && e.until > now ? LEVEL[e.action] : 0;
  }
}

/**
 * Accounts some finding names on its own: an account finding, a group (a burst, shared
 * infrastructure among suspicious accounts) or a strong link. In residential-aged at 2,000
 * accounts, organic accounts sharing a residential ASN with the scanners in the same hours were
 * linked to them weakly (ASN weight 0.25), put in their Louvain communities and suspended with them.
 */
export function tiedAccounts(findings: readonly Finding[], minLink: number, strongLink: number): Set<string> {
  const out = new Set<string>();
  for (const f of findings) {
    if (f.kind === 'account' || (f.kind === 'group' && f.score >= minLink) || (f.kind === 'link' && f.score >= strongLink)) {
      for (const id of f.accountIds) out.add(id);
    }
  }
  return out;
}

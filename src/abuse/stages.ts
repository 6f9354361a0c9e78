import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Database } from '../db/schema.js';
import type { AbusePolicy } from '../policy/index.js';
import { COORDINATION, CoordinationDetector } from './detectors/coordination.js';
import { FARMING } from './detectors/farming.js';
import type { RevealedFacts } from './detectors/revelation.js';
import type { Detector, Finding } from './detectors/types.js';
import { AbuseEngine, type Decision, type Enforcer } from './engine.js';
import type { LookupEvent } from './events.js';
import { L, decayed, type AccountState } from './features/store.js';
import { HitRates } from './hit-rates.js';
import { partitionOf } from './partitions.js';
import type { EventHandler, EventProcessor } from './pipeline.js';
import { resumeEngine, syncReinstatements, type ResumeOptions } from './resume.js';
import { dbRevealedFacts } from './revealed-facts.js';
import { recordShadow } from './shadow.js';
import type { SignupEvent } from './signup.js';
import { Summarizer } from './summaries.js';

/**
 * The two stages of the sharded abuse engine (FINDGUARD_EVENT_PARTITIONS > 1).
 *
 * Partition stage, one per partition, in whichever worker holds its lease: every event of its
 * accounts, the feature store, and the detectors that look at one account at a time (enumeration,
 * answers: any detector not named in GLOBAL_DETECTORS). It decides on accounts by their own
 * behaviour, and passes on compact summaries (summaries.ts) and its accounts' findings.
 *
 * Global stage, in the one worker holding its lease: the detectors that need every account
 * (coordination, farming), fed by the partitions' summaries, with the partitions' account findings
 * joined in, then the clustering, scoring and the decisions on groups of accounts, as the single
 * engine makes them. A cluster of one account on its own behaviour is the partition's to decide.
 *
 * Both record decisions through the same Enforcer, and each reads what the other recorded into its
 * ledger before it evaluates (syncActions), so neither acts below what is in force: decisions stay
 * idempotent across stages as within one engine.
 */

/** Detectors that need the whole fleet's view; every other detector runs in the partitions. */
export const GLOBAL_DETECTORS: ReadonlySet<string> = new Set([COORDINATION, FARMING]);

export interface StageDeps {
  /** Absent in a replay without a database (tests): nothing resumed or synchronised. */
  db?: Kysely<Database>;
  enforcer: Enforcer;
  logger: Logger;
  clock: { now(): number };
  policy: AbusePolicy;
  /** Evaluate at most this often in event time (default one minute, as AbuseService). */
  evaluateEveryMs?: number;
  resume?: ResumeOptions;
  /** What a partition reads of other partitions' accounts (the revelation graph); default: the database's, where there is one. */
  revealedFacts?: RevealedFacts;
  /**
   * The event time every partition has stored up to, silent ones included (undefined until each has
   * said): a partition's call that named another partition's accounts waits for it.
   */
  readStoredUpTo?(): Promise<number | undefined>;
}

/**
 * How long (on the deployment's clock, not in event time: a backlog replays days in minutes) such a
 * call waits for the other partitions: one down, or far behind, must not hold the verdict back for
 * ever; what is stored by then is what it is judged on.
 */
const REVEALED_WAIT_MS = 10 * 60_000;

/** Where a partition stage sends what the global stage needs. */
export interface SummarySink {
  /** Summary events (JSON, field `e`) and sign-ups (field `s`), in order. Throws when not durable. */
  publish(entries: ReadonlyArray<readonly ['e' | 's', string]>): Promise<void>;
  /** The partition's current account findings, replacing its previous ones. */
  findings(partition: number, at: number, findings: readonly Finding[]): Promise<void>;
  /** Every event of the partition up to `at` (event time) is stored: the global stage's watermark. */
  progress(partition: number, at: number): Promise<void>;
}

/** Actions recorded by any stage, read into an engine's ledger (restore keeps the stronger one). */
class ActionSync {
  private since = 0;
  async sync(db: Kysely<Database>, engine: AbuseEngine, now: number): Promise<void> {
    const rows = await db
      .selectFrom('enforcement_actions')
      .select(['account_id', 'action', 'cluster_id', 'expires_at', 'at'])
      .where('reversed_by', 'is', null)
      .where('action', 'in', ['throttle', 'challenge', 'suspend'])
      // Another process's clock may lag this one's by a little: a minute of overlap, restored twice harmlessly.
      .where('at', '>=', this.since - 60_000)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .execute();
    for (const r of rows) {
      const action = r.action === 'suspend' ? (r.cluster_id ? 'suspend-cluster' : 'suspend-account') : (r.action as 'throttle' | 'challenge');
      engine.restore(r.account_id, { action, until: r.expires_at === null ? Number.POSITIVE_INFINITY : Number(r.expires_at), clusterId: r.cluster_id ?? r.account_id });
      if (Number(r.at) > this.since) this.since = Number(r.at);
    }
  }
}

export class PartitionStage implements EventHandler {
  engine: AbuseEngine;
  private summarizer: Summarizer;
  private outbox: Array<readonly ['e' | 's', string]> = [];
  private last = Number.NEGATIVE_INFINITY;
  private readonly every: number;
  private readonly actions = new ActionSync();
  private readonly reinstatements = new Map<string, number>();
  private readonly hitRates: HitRates | undefined;
  private readonly facts: RevealedFacts | undefined;

  constructor(
    private readonly deps: StageDeps,
    readonly partition: number,
    readonly partitions: number,
    private readonly sink: SummarySink,
  ) {
    this.every = deps.evaluateEveryMs ?? 60_000;
    this.facts = deps.revealedFacts ?? (deps.db ? dbRevealedFacts(deps.db) : undefined);
    this.engine = this.build();
    this.summarizer = new Summarizer(this.engine.policy);
    // One partition's accounts are a fair sample of the fleet's books: partition 0 writes the rates every node reads.
    this.hitRates = deps.db && partition === 0 ? new HitRates(deps.db, this.engine.policy.realtime.answers, deps.logger) : undefined;
  }

  private build(): AbuseEngine {
    return new AbuseEngine({
      policy: this.deps.policy,
      enforcer: this.deps.enforcer,
      detectors: (_ctx, defaults) => defaults.filter((d) => !GLOBAL_DETECTORS.has(d.name)),
      owns: (id) => partitionOf(id, this.partitions) === this.partition,
    });
  }

  /** Taking the partition over: its accounts' stored events replayed into a fresh engine, and summarised again (the global stage skips what it has). */
  async resume(): Promise<void> {
    this.engine = this.build();
    this.summarizer = new Summarizer(this.engine.policy);
    this.outbox = [];
    this.last = Number.NEGATIVE_INFINITY;
    // The ids the previous engine was told of: the new one has heard of none of them.
    this.reinstatements.clear();
    if (!this.deps.db) return;
    const started = Date.now();
    const r = await resumeEngine(this.deps.db, this.engine, this.deps.clock.now(), {
      ...this.deps.resume,
      accept: (id) => partitionOf(id, this.partitions) === this.partition,
      observe: (e) => {
        this.engine.observe(e);
        this.queue(e);
      },
    }, this.reinstatements);
    await this.flush();
    this.deps.logger.info({ partition: this.partition, ...r, ms: Date.now() - started }, 'partition engine resumed from stored events');
  }

  async signup(event: SignupEvent): Promise<void> {
    this.engine.signup(event);
    this.outbox.push(['s', JSON.stringify(event)]);
    await this.flush();
  }

  async handle(events: LookupEvent[]): Promise<void> {
    await this.engine.handle(events);
    let now = this.last;
    for (const e of events) {
      this.queue(e);
      if (e.at > now) now = e.at;
    }
    await this.flush();
    await this.sink.progress(this.partition, now);
    if (now - this.last < this.every) return;
    this.last = now;
    await this.evaluate(now);
  }

  async evaluate(now: number): Promise<Decision[]> {
    const db = this.deps.db;
    if (db) {
      await syncReinstatements(db, this.engine, now - this.engine.policy.actions.reinstateGraceMs, this.reinstatements);
      await this.actions.sync(db, this.engine, now);
    }
    // Calls that named other partitions' accounts, judged once those partitions have stored up to them.
    const stored = this.deps.readStoredUpTo ? await this.deps.readStoredUpTo() : now;
    await this.engine.resolveRevealed(this.facts, stored, this.deps.clock.now(), REVEALED_WAIT_MS);
    const decisions = await this.engine.evaluate(now);
    if (this.engine.policy.shadow) await recordShadow(db, decisions, now, this.deps.logger);
    logDecisions(this.deps.logger, this.engine, decisions, `partition ${this.partition}`);
    const findings: Finding[] = [];
    for (const d of this.engine.detectors) for (const f of d.findings(now)) if (f.kind === 'account') findings.push(f);
    await this.sink.findings(this.partition, now, findings);
    await this.sink.progress(this.partition, now);
    if (this.hitRates && this.engine.policy.realtime.answers) {
      await this.hitRates.publish(this.engine.store.countryHitRates(now), now).catch((err: unknown) => this.deps.logger.warn({ err: String(err) }, 'could not write the hit rates'));
    }
    return decisions;
  }

  private queue(e: LookupEvent): void {
    for (const s of this.summarizer.add(e)) this.outbox.push(['e', JSON.stringify(s)]);
  }

  /** Sends what is queued; on failure it stays queued, and the batch fails (redelivered, then sent with the next). */
  private async flush(): Promise<void> {
    if (this.outbox.length === 0) return;
    const out = this.outbox;
    await this.sink.publish(out);
    if (this.outbox === out) this.outbox = [];
  }
}

const FindingSchema = Type.Object({
  detector: Type.String(),
  kind: Type.Literal('account'),
  accountIds: Type.Array(Type.String(), { minItems: 1, maxItems: 1 }),
  score: Type.Number({ minimum: 0, maximum: 1 }),
  signals: Type.Array(Type.String()),
  from: Type.Number(),
  to: Type.Number(),
  explanation: Type.String(),
});
const checkFindings = Compile(Type.Object({ at: Type.Number(), findings: Type.Array(FindingSchema) }));

/** Parses what a partition wrote with SummarySink.findings; anything malformed counts as no findings. */
export function decodeFindings(text: string): { at: number; findings: Finding[] } | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return checkFindings.Check(v) ? (v as { at: number; findings: Finding[] }) : undefined;
  } catch {
    return undefined;
  }
}

/** The partitions' account findings as one detector of the global engine, so clusters are scored on them as in one engine. */
class PartitionFindings implements Detector {
  readonly name = 'partitions';
  private byAccount = new Map<string, Finding[]>();
  observe(): void {}
  findings(): Finding[] {
    return [...this.byAccount.values()].flat();
  }
  replace(all: readonly Finding[]): void {
    const next = new Map<string, Finding[]>();
    for (const f of all) {
      const id = f.accountIds[0]!;
      let list = next.get(id);
      if (!list) next.set(id, (list = []));
      list.push(f);
    }
    this.byAccount = next;
  }
  score(id: string): number {
    let s = 0;
    for (const f of this.byAccount.get(id) ?? []) s = Math.max(s, f.score);
    return s;
  }
}

export interface GlobalStageDeps extends StageDeps {
  /** Every partition's latest account findings. */
  readFindings(): Promise<Finding[]>;
  /**
   * The event time up to which every live partition has stored its events (undefined: none has
   * said). The global engine takes summaries in only up to it: a campaign's exposures are read
   * from the stored events when it opens, so the evidence must not run ahead of what is stored,
   * as in one engine, which only ever sees what it stored.
   */
  readWatermark(): Promise<number | undefined>;
}

/**
 * The global stage as what its stream consumer hands summaries to. It stores nothing (the
 * partitions stored the events): it is an EventProcessor, not a pipeline.
 */
export class GlobalStage implements EventProcessor {
  engine!: AbuseEngine;
  private relay!: PartitionFindings;
  private last = Number.NEGATIVE_INFINITY;
  private readonly every: number;
  private readonly actions = new ActionSync();
  private readonly reinstatements = new Map<string, number>();
  /** Decisions the enforcer left to the partitions, not to be logged as this stage's. */
  private readonly left = new WeakSet<Decision>();

  constructor(private readonly deps: GlobalStageDeps) {
    this.every = deps.evaluateEveryMs ?? 60_000;
    this.build();
  }

  private build(): void {
    const relay = (this.relay = new PartitionFindings());
    const enforcer = this.deps.enforcer;
    const left = this.left;
    // A cluster of one account on the partitions' evidence alone is the partition's decision, made there.
    const skip = (d: Decision) => {
      const mine = d.evidence.members > 1 || d.evidence.detectors.some((n) => GLOBAL_DETECTORS.has(n));
      if (!mine) left.add(d);
      return !mine;
    };
    this.engine = new AbuseEngine({
      policy: this.deps.policy,
      enforcer: {
        throttle: async (ids, until, d) => void (skip(d) || (await enforcer.throttle(ids, until, d))),
        challenge: async (ids, until, d) => void (skip(d) || (await enforcer.challenge(ids, until, d))),
        suspend: async (ids, reason, evidence, d) => void ((d && skip(d)) || (await enforcer.suspend(ids, reason, evidence, d))),
      },
      detectors: (ctx, defaults) => {
        // An account's own suspicion: the partition's score of it, or its context (new, hosting) as the single engine weighs it.
        const suspicion = (acc: AccountState, now: number): number => Math.max(relay.score(acc.id), contextSuspicion(ctx.store, acc, now, ctx.policy.features.newAccountAgeMs));
        const global: Detector[] = defaults.filter((d) => GLOBAL_DETECTORS.has(d.name) && d.name !== COORDINATION);
        return [new CoordinationDetector(ctx.store, ctx.policy, suspicion), ...global, relay];
      },
    });
  }

  async resume(): Promise<void> {
    this.build();
    this.last = this.observed = Number.NEGATIVE_INFINITY;
    this.held = [];
    // As PartitionStage.resume: a rebuilt engine must be told of every reinstatement again.
    this.reinstatements.clear();
    if (!this.deps.db) return;
    const started = Date.now();
    const summarizer = new Summarizer(this.engine.policy);
    const engine = this.engine;
    const r = await resumeEngine(this.deps.db, engine, this.deps.clock.now(), {
      ...this.deps.resume,
      observe: (e) => {
        for (const s of summarizer.add(e)) engine.observe(s);
      },
    }, this.reinstatements);
    this.deps.logger.info({ ...r, ms: Date.now() - started }, 'global abuse stage resumed from stored events');
  }

  async signup(event: SignupEvent): Promise<void> {
    this.engine.signup(event);
  }

  /**
   * Summaries past the watermark wait here (in event time order once released). They are
   * acknowledged on the stream all the same: a take-over rebuilds them from the stored events.
   */
  private held: LookupEvent[] = [];
  private observed = Number.NEGATIVE_INFINITY;

  async process(events: readonly LookupEvent[]): Promise<void> {
    for (const e of events) this.held.push(e);
    const watermark = await this.deps.readWatermark();
    let now = this.observed;
    let ready = this.held;
    if (watermark !== undefined) {
      ready = this.held.filter((e) => e.at <= watermark);
      this.held = ready.length === this.held.length ? [] : this.held.filter((e) => e.at > watermark);
    } else this.held = [];
    ready.sort((a, b) => a.at - b.at);
    for (const e of ready) {
      this.engine.observe(e);
      if (e.at > now) now = e.at;
    }
    this.observed = now;
    if (ready.length === 0 || now - this.last < this.every) return;
    this.last = now;
    await this.evaluate(now);
  }

  async evaluate(now: number): Promise<Decision[]> {
    this.relay.replace(await this.deps.readFindings());
    // The relayed findings flag their accounts here as the enumeration detector does in one engine.
    for (const f of this.relay.findings()) {
      const acc = this.engine.store.account(f.accountIds[0]!);
      if (acc) acc.flagged = true;
    }
    const db = this.deps.db;
    if (db) {
      await syncReinstatements(db, this.engine, now - this.engine.policy.actions.reinstateGraceMs, this.reinstatements);
      await this.actions.sync(db, this.engine, now);
    }
    const decisions = (await this.engine.evaluate(now)).filter((d) => !this.left.has(d));
    if (this.engine.policy.shadow) await recordShadow(db, decisions, now, this.deps.logger);
    logDecisions(this.deps.logger, this.engine, decisions, 'global');
    return decisions;
  }
}

/** The single engine's context part of an account's suspicion (engine.ts suspicion): new accounts on hosting networks are where farms live. */
function contextSuspicion(store: AbuseEngine['store'], acc: AccountState, now: number, newAccountAgeMs: number): number {
  const calls = decayed(store, acc, L.calls, now);
  const hosting = calls > 0 && decayed(store, acc, L.hostingCalls, now) / calls >= 0.5;
  const fresh = acc.ageAtLastMs < newAccountAgeMs;
  return fresh && hosting ? 0.8 : hosting ? 0.4 : fresh ? 0.3 : 0;
}

function logDecisions(logger: Logger, engine: AbuseEngine, decisions: readonly Decision[], stage: string): void {
  const mode = engine.policy.shadow ? 'shadow' : 'enforce';
  for (const d of decisions) {
    logger.info({ stage, action: d.action, mode, accounts: d.accountIds.length, cluster: d.clusterId, score: d.score, applied: d.applied, ...(d.error ? { error: d.error } : {}) }, d.reason);
  }
}

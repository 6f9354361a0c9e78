import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import type { Clock } from '../util/clock.js';
import { OutageLog, errorText } from '../util/outage.js';
import { activeDecisions, decisionsChangedSince, decisionsMark, SIGNUP_HOLD_MS, type StandingDecision } from './decisions.js';
import { inProcessNotices, type DecisionNotices } from './decision-notices.js';

/**
 * The decisions in force, as a serving node knows them: the one place the request path asks
 * "what stands against this caller?" (one Map lookup, no query). Kept current three ways:
 * - writes made in this process are applied at once, synchronously, after their commit
 *   (`changed`), so an embedded service or a simulation decides exactly as if it held them itself;
 * - a notice from another process (Redis pub/sub) makes it read what changed at once;
 * - a timer reads what changed every second anyway, so a lost notice costs at most that.
 * What changed is what the database says committed since the last read began (a mark taken
 * before it, decisions.ts decisionsMark), never a writer's wall-clock stamp: a writer reads its
 * clock before its transaction, which may then wait on locks (another node's bulk action holding
 * the audit chain's head, an account's row) for longer than any overlap a clock-based horizon
 * allows, and its row would commit behind every node's horizon, unseen until a restart (found in
 * review: test/review/decision-stamped-before-lock). As a backstop against anything that still
 * slips past (a bug, a row written around the trigger), every `fullReadMs` the read is a full
 * one: the active set replaces the view.
 * When it cannot read (the database is away) for longer than `maxAgeMs`, `readable()` turns false
 * and discovery fails closed; the next successful read brings it back, without a restart.
 *
 * Expiry follows the injected clock (a simulated one in the simulator). How old the view is, a
 * property of the machine rather than of the simulated world, is measured on a monotonic clock.
 */

/** What the cache needs of a caller to decide a sign-up hold: its creation and sign-up context. */
export interface CallerSignup {
  createdAt: number;
  signupDevice?: string | undefined;
  signupIp?: string | undefined;
}

/**
 * Where a call comes from, as the request path read it: what operator decisions at device, ip,
 * subnet, asn and country scope are matched against (the same forms lookup events store).
 */
export interface CallOrigin {
  deviceId?: string | undefined;
  ip: string;
  /** The /24 of an IPv4 address, the /64 of an IPv6 one. */
  subnet?: string | undefined;
  /** The /48 of an IPv6 address. */
  subnet48?: string | undefined;
  asn?: number | undefined;
  country?: string | undefined;
}

export interface DecisionSource {
  active(now: number): Promise<StandingDecision[]>;
  /** Every row whose change committed after `mark` was taken (and maybe some before: harmless). */
  changedAfter(mark: string, page: number): Promise<StandingDecision[]>;
  /** A mark for the read about to begin (see decisionsMark); absent: '' (a test's source ignores marks). */
  mark?(): Promise<string>;
}

export function databaseSource(db: Kysely<Database>): DecisionSource {
  return { active: (now) => activeDecisions(db, now), changedAfter: (mark, page) => decisionsChangedSince(db, mark, page), mark: () => decisionsMark(db) };
}

export interface DecisionCacheOptions {
  source: DecisionSource;
  clock: Clock;
  logger: Logger;
  notices?: DecisionNotices;
  /** The timer's read (default 1 s). */
  pollMs?: number;
  /** How old the view may grow while reads fail, or one read hangs, before discovery fails closed (default 5 s). */
  maxAgeMs?: number;
  /** How often a read is a full one, the backstop (default 60 s, its own timer). */
  fullReadMs?: number;
  /**
   * @deprecated Ignored: reads follow the database's change marks, not clock stamps, so there is
   * no overlap to size. Kept only because src/incidents/index.ts still lists it (not this change's file).
   */
  overlapMs?: number;
  /** Monotonic milliseconds, for the age of the view (default performance.now). */
  monotonic?: () => number;
}

const PAGE = 5000;
/** Strength of what stands against an account: the strongest active decision is the one enforced. */
const LEVEL: Record<StandingDecision['action'], number> = { throttle: 1, challenge: 2, suspend: 3, 'hold-signups': 3 };
/** Expired rows are dropped this long after they expire (a test's clock may step back a little). */
const PRUNE_AFTER_MS = 3_600_000;

export class DecisionCache {
  private readonly byId = new Map<string, StandingDecision>();
  private readonly byAccount = new Map<string, StandingDecision[]>();
  /** `device:<id>` / `ip:<address>` -> hold-signups decisions. */
  private readonly holds = new Map<string, StandingDecision[]>();
  /** `<scope>:<subject>` -> throttle, challenge or block decisions on where calls come from (device, ip, subnet, asn, country). */
  private readonly origins = new Map<string, StandingDecision[]>();
  /**
   * Rows known lifted -> the apply() round that learned it: a read that began before the lift
   * committed must not bring the row back. Dropped once a later read has completed.
   */
  private readonly lifted = new Map<string, number>();
  private round = 0;
  private readonly notices: DecisionNotices;
  private readonly pollMs: number;
  private readonly maxAgeMs: number;
  private readonly fullReadMs: number;
  /** Rows in the view -> the apply() round that added them: a full read removes only rows older than itself. */
  private readonly addedIn = new Map<string, number>();
  /** The backstop's timer sets it; the next read is then a full one. */
  private fullDue = false;
  private fullTimer: NodeJS.Timeout | undefined;
  private readonly mono: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private started = false;
  /** The mark taken before the last read that succeeded: what changed after it is read next; undefined until the first full read. */
  private since: string | undefined;
  /** Monotonic start of the last read that succeeded. */
  private okAt: number | undefined;
  private readingSince: number | undefined;
  /** Reads failing: logged once, and again when one works. */
  private readonly outage: OutageLog;
  private lastPrune = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: DecisionCacheOptions) {
    this.notices = opts.notices ?? inProcessNotices;
    this.outage = new OutageLog({
      down: (err) => opts.logger.error({ err: errorText(err) }, 'cannot read decisions: discovery fails closed if this lasts'),
      up: () => opts.logger.info('decisions readable again'),
    });
    this.pollMs = opts.pollMs ?? 1000;
    this.maxAgeMs = opts.maxAgeMs ?? 5000;
    this.fullReadMs = opts.fullReadMs ?? 60_000;
    this.mono = opts.monotonic ?? (() => performance.now());
  }

  /**
   * Serve from this cache: the first read, then notices and the timer. Only serving nodes start
   * it; elsewhere (a worker, a CLI command) `changed` only sends the notice.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.notices.subscribe(() => void this.refresh());
    this.timer = setInterval(() => void this.refresh(), this.pollMs);
    this.timer.unref();
    this.fullTimer = setInterval(() => {
      this.fullDue = true;
      void this.refresh();
    }, this.fullReadMs);
    this.fullTimer.unref();
    await this.refresh();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.fullTimer);
    this.timer = undefined;
    this.fullTimer = undefined;
    await this.running;
    await this.notices.close();
  }

  /** After a commit in this process: applied here at once, announced to the others. */
  changed(rows: readonly StandingDecision[]): void {
    if (rows.length === 0) return;
    if (this.started) this.apply(rows);
    this.notices.publish(rows.length);
  }

  /** Whether the view is recent enough to enforce from; false means: fail closed. */
  readable(): boolean {
    if (this.okAt === undefined) return false;
    const now = this.mono();
    // A read hanging for long (a database that stopped answering) is as bad as failing ones.
    if (this.readingSince !== undefined && now - this.readingSince > this.maxAgeMs) return false;
    // Only failing reads make the view old: a loop busy elsewhere merely read nothing meanwhile.
    return !this.outage.failing || now - this.okAt <= this.maxAgeMs;
  }

  /** For /readyz: undefined where this process does not serve from the cache. */
  health(): 'ok' | 'unreadable' | undefined {
    if (!this.started) return undefined;
    return this.readable() ? 'ok' : 'unreadable';
  }

  /**
   * What stands against the caller at `now`: the stronger of its strongest own decision in force
   * and a sign-up hold its device or sign-up address falls under while it is new (created after
   * the hold, less than SIGNUP_HOLD_MS ago); the own decision on a tie. A weaker own decision (a
   * throttle) must not cancel a hold (found in review: test/review/signup-hold-weaker-own-decision).
   * The request path's question: Map lookups only.
   */
  standing(accountId: string, caller: CallerSignup, now: number): StandingDecision | undefined {
    let best: StandingDecision | undefined;
    const own = this.byAccount.get(accountId);
    if (own) for (const d of own) if (inForce(d, now) && (!best || LEVEL[d.action] > LEVEL[best.action])) best = d;
    // Nothing is stronger than a suspension: no need to look at the holds.
    if ((best && LEVEL[best.action] >= LEVEL['hold-signups']) || this.holds.size === 0 || now - caller.createdAt >= SIGNUP_HOLD_MS) return best;
    const hold = this.heldBy(caller.signupDevice !== undefined ? `device:${caller.signupDevice}` : undefined, caller, now) ?? this.heldBy(caller.signupIp !== undefined ? `ip:${caller.signupIp}` : undefined, caller, now);
    return hold ?? best;
  }

  /**
   * The strongest decision in force at `now` on where the call comes from (its device, address,
   * subnet, ASN or country): an operator's "throttle this ASN for 4 h" reaches every call from it,
   * whichever account makes it. Map lookups only, none at all while no such decision stands.
   */
  originStanding(origin: CallOrigin, now: number): StandingDecision | undefined {
    if (this.origins.size === 0) return undefined;
    let best: StandingDecision | undefined;
    const consider = (key: string | undefined) => {
      if (key === undefined) return;
      const list = this.origins.get(key);
      if (list) for (const d of list) if (inForce(d, now) && (!best || LEVEL[d.action] > LEVEL[best.action])) best = d;
    };
    if (origin.deviceId !== undefined) consider(`device:${origin.deviceId}`);
    consider(`ip:${origin.ip}`);
    if (origin.subnet !== undefined) consider(`subnet:${origin.subnet}`);
    if (origin.subnet48 !== undefined) consider(`subnet:${origin.subnet48}`);
    if (origin.asn !== undefined) consider(`asn:${origin.asn}`);
    if (origin.country !== undefined) consider(`country:${origin.country}`);
    return best;
  }

  /** Whether any decision on where calls come from stands: the request path skips reading the origin otherwise. */
  hasOriginDecisions(): boolean {
    return this.origins.size > 0;
  }

  /** Reads what changed (everything, the first time). Concurrent calls share one read, and one more after it. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.read();
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async read(): Promise<void> {
    const started = this.mono();
    const firstRound = this.round;
    this.readingSince = started;
    let full = false;
    try {
      // Taken before the read: a change committing while it runs is in this read or the next.
      const mark = this.opts.source.mark ? await this.opts.source.mark() : '';
      if (this.since === undefined || this.fullDue) {
        full = true;
        this.fullDue = false;
        this.replace(await this.opts.source.active(this.opts.clock.now() - EXPIRY_SKEW_MS), firstRound);
      } else {
        this.apply(await this.opts.source.changedAfter(this.since, PAGE));
      }
      this.since = mark;
      this.okAt = started;
      // This read began after every lift applied before it: it could not bring those rows back.
      for (const [id, round] of this.lifted) if (round <= firstRound) this.lifted.delete(id);
      this.outage.ok();
      this.prune();
    } catch (err) {
      // A failed full read is still owed.
      if (full) this.fullDue = true;
      this.outage.failed(err);
    } finally {
      this.readingSince = undefined;
    }
  }

  private apply(rows: readonly StandingDecision[]): void {
    const round = ++this.round;
    for (const d of rows) {
      if (d.liftedAt !== null) {
        this.remove(d.id);
        this.lifted.set(d.id, round);
      } else if (!this.byId.has(d.id) && !this.lifted.has(d.id)) {
        this.add(d);
      }
    }
  }

  /**
   * A full read: its rows are applied, and rows it does not have (lifted or expired) go, unless
   * applied after it began (a commit in this process the read's snapshot may predate).
   */
  private replace(rows: readonly StandingDecision[], firstRound: number): void {
    const present = new Set(rows.map((d) => d.id));
    for (const [id, round] of [...this.addedIn]) if (round <= firstRound && !present.has(id)) this.remove(id);
    this.apply(rows);
  }

  private add(d: StandingDecision): void {
    this.byId.set(d.id, d);
    this.addedIn.set(d.id, this.round);
    const key = keyOf(d);
    if (key === undefined) return;
    const [map, k] = key;
    const list = this.mapOf(map);
    const at = list.get(k);
    if (at) at.push(d);
    else list.set(k, [d]);
  }

  private remove(id: string): void {
    const d = this.byId.get(id);
    if (!d) return;
    this.byId.delete(id);
    this.addedIn.delete(id);
    const key = keyOf(d);
    if (key === undefined) return;
    const list = this.mapOf(key[0]);
    const rest = list.get(key[1])?.filter((x) => x.id !== id);
    if (rest && rest.length > 0) list.set(key[1], rest);
    else list.delete(key[1]);
  }

  private mapOf(kind: 'account' | 'hold' | 'origin'): Map<string, StandingDecision[]> {
    return kind === 'account' ? this.byAccount : kind === 'hold' ? this.holds : this.origins;
  }

  /** Drops rows long expired, once a minute at most. */
  private prune(): void {
    const now = this.opts.clock.now();
    if (Math.abs(now - this.lastPrune) < 60_000) return;
    this.lastPrune = now;
    for (const d of [...this.byId.values()]) if (d.expiresAt !== null && d.expiresAt < now - PRUNE_AFTER_MS) this.remove(d.id);
  }

  private heldBy(key: string | undefined, caller: CallerSignup, now: number): StandingDecision | undefined {
    if (key === undefined) return undefined;
    const list = this.holds.get(key);
    if (list) for (const d of list) if (inForce(d, now) && d.createdAt <= caller.createdAt) return d;
    return undefined;
  }
}

/**
 * How long past its expiry, by this node's clock, a decision still stands here. Each node judges
 * expiry on its own clock: without this a node whose clock ran S seconds ahead let a throttled,
 * challenged or blocked caller through S seconds early, and a caller who knows the length (an
 * operator's "4 h", the engine's fixed lengths) spreads its calls to reach it
 * (test/review/decision-expiry-clock-skew). With it, no node ends a decision before its expiry
 * while the nodes' clocks are within this of each other; each ends it at most this late.
 */
export const EXPIRY_SKEW_MS = 5_000;

function inForce(d: StandingDecision, now: number): boolean {
  return d.expiresAt === null || d.expiresAt + EXPIRY_SKEW_MS > now;
}

/**
 * Where the request path looks a decision up; undefined for what nothing enforces: a shadow
 * decision (listed as "would", never applied) and a sign-up hold on a scope sign-ups do not have.
 */
function keyOf(d: StandingDecision): ['account' | 'hold' | 'origin', string] | undefined {
  if (d.shadow === true) return undefined;
  if (d.scope === 'account') return ['account', d.subject];
  if (d.action === 'hold-signups') return d.scope === 'device' || d.scope === 'ip' ? ['hold', `${d.scope}:${d.subject}`] : undefined;
  return ['origin', `${d.scope}:${d.subject}`];
}

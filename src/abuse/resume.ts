import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AbuseEngine } from './engine.js';
import type { LookupEvent } from './events.js';
import { fromRow } from './pipeline.js';
import type { SignupEvent } from './signup.js';

/**
 * The engine keeps its feature windows and its ledger of actions in memory, so a process that
 * starts consuming events (a restart, or a worker taking over from a dead one) would begin blind:
 * an account halfway through a scan would look new, and a throttled one free. This rebuilds that
 * state from the database, which every consumer shares: recent events replayed in order (feature
 * updates only, no decisions), the actions still in force, and recent reinstatements (their grace
 * against automatic re-suspension).
 */

export interface ResumeOptions {
  /** Replay events this far back (default: the engine's day window). */
  windowMs?: number;
  /** At most this many of the newest events, counting only the accepted ones (bounds start-up time; ~60,000 events/s replay). */
  maxEvents?: number;
  /** Only the events of these accounts (a partition's, partitions.ts). */
  accept?: (accountId: string) => boolean;
  /** Where replayed events go instead of the engine's observe (the global stage summarises them). */
  observe?: (event: LookupEvent) => void;
  /**
   * A stored account's sign-up event, as the publisher makes it (signupEventOf with this process's
   * IP intelligence and policy). Sign-ups travel only as messages, acknowledged once an engine
   * holds them in memory: without this a rebuilt engine has forgotten every sign-up (the farming
   * detector's bursts, a suspension's sign-up holds; test/review/signups-forgotten-on-resume), so
   * they are read back from the accounts table, which keeps each account's creation and sign-up
   * context. Absent (tests, replays without IP intelligence): no sign-ups are replayed.
   */
  signupOf?: (accountId: string, at: number, signup: { ip: string; deviceId?: string }) => SignupEvent | undefined;
}

export interface ResumeReport {
  events: number;
  signups: number;
  actions: number;
  reinstatements: number;
}

const PAGE = 5000;
export const DEFAULT_RESUME_EVENTS = 2_000_000;

export async function resumeEngine(db: Kysely<Database>, engine: AbuseEngine, now: number, opts: ResumeOptions = {}, seen?: Map<string, number>): Promise<ResumeReport> {
  const reinstatements = await syncReinstatements(db, engine, now - engine.policy.actions.reinstateGraceMs, seen);
  const actions = await restoreActions(db, engine, now);
  const observe = opts.observe ?? ((e: LookupEvent) => void engine.observe(e));
  const windowMs = opts.windowMs ?? engine.policy.features.dayWindowMs;
  const maxEvents = opts.maxEvents ?? DEFAULT_RESUME_EVENTS;
  // As far back as the farming detector keeps a burst (7 days by default): the live engine would still hold them.
  const signups = opts.signupOf ? await storedSignups(db, opts.signupOf, now - Math.max(windowMs, engine.policy.farming.retainMs), now, maxEvents, opts.accept) : [];
  // Sign-ups before the events at the same instant, as they arrive live (a new account's first call follows it).
  let next = 0;
  const upTo = (at: number) => {
    while (next < signups.length && signups[next]!.at <= at) engine.signup(signups[next++]!);
  };
  const events = await replayEvents(
    db,
    (e) => {
      upTo(e.at);
      observe(e);
    },
    now - windowMs,
    maxEvents,
    opts.accept,
  );
  upTo(Number.POSITIVE_INFINITY);
  return { events, signups: signups.length, actions, reinstatements };
}

/**
 * Sign-ups of the accounts created in [since, now] that the app mirrored with a sign-up context,
 * oldest first, at most `max` (the newest). The engine takes a sign-up it already holds once
 * (AbuseEngine.signup), so one both replayed here and then delivered by its stream counts once.
 */
async function storedSignups(
  db: Kysely<Database>,
  signupOf: NonNullable<ResumeOptions['signupOf']>,
  since: number,
  now: number,
  max: number,
  accept?: (accountId: string) => boolean,
): Promise<SignupEvent[]> {
  // Newest first, counting only the accepted: a partition's own newest, as replayStart.
  const out: SignupEvent[] = [];
  await newestFirst(
    (bound) =>
      db
        .selectFrom('accounts')
        .select(['id', 'created_at', 'signup_ip', 'signup_device'])
        .where('created_at', '>=', since)
        .where('created_at', '<=', now)
        .where('signup_ip', 'is not', null)
        .$if(bound !== undefined, (q) => q.where((eb) => eb.or([eb('created_at', '<', bound!.at), eb.and([eb('created_at', '=', bound!.at), eb('id', '<', bound!.id)])])))
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(COUNT_PAGE)
        .execute(),
    (r) => ({ at: Number(r.created_at), id: r.id }),
    (r) => {
      if (accept && !accept(r.id)) return false;
      const s = signupOf(r.id, Number(r.created_at), { ip: r.signup_ip!, ...(r.signup_device !== null ? { deviceId: r.signup_device } : {}) });
      if (s) out.push(s);
      return out.length >= max;
    },
  );
  return out.reverse();
}

/**
 * Reinstatements recorded since `since` (by an operator, in any process: the CLI, another node)
 * handed to the engine, so it forgets its action and honours the grace period. `seen` holds the
 * ids already handed over (by id, not time: another process's clock may lag this one's).
 */
export async function syncReinstatements(db: Kysely<Database>, engine: AbuseEngine, since: number, seen: Map<string, number> = new Map()): Promise<number> {
  const rows = await db
    .selectFrom('enforcement_actions')
    .select(['id', 'account_id', 'at'])
    // A literal, not a parameter: only a query whose text names the kind can use the partial index
    // that holds the reinstatements alone (migration 20270101000000); by time, it walked 30 days of actions.
    .where('action', '=', sql.lit('reinstate'))
    .where('at', '>', since)
    .orderBy('at')
    .execute();
  let n = 0;
  for (const r of rows) {
    if (seen.has(r.id)) continue;
    const at = Number(r.at);
    seen.set(r.id, at);
    engine.reinstate(r.account_id, at);
    n++;
  }
  for (const [id, at] of seen) if (at <= since) seen.delete(id);
  return n;
}

async function restoreActions(db: Kysely<Database>, engine: AbuseEngine, now: number): Promise<number> {
  const rows = await db
    .selectFrom('enforcement_actions')
    .select(['account_id', 'action', 'cluster_id', 'expires_at', 'at'])
    .where('reversed_by', 'is', null)
    .where('action', 'in', ['throttle', 'challenge', 'suspend'])
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .orderBy('at')
    .execute();
  for (const r of rows) {
    const action = r.action === 'suspend' ? (r.cluster_id ? 'suspend-cluster' : 'suspend-account') : (r.action as 'throttle' | 'challenge');
    engine.restore(r.account_id, { action, until: r.expires_at === null ? Number.POSITIVE_INFINITY : Number(r.expires_at), clusterId: r.cluster_id ?? r.account_id });
  }
  return rows.length;
}

async function replayEvents(db: Kysely<Database>, observe: (e: LookupEvent) => void, since: number, maxEvents: number, accept?: (accountId: string) => boolean): Promise<number> {
  let from = await replayStart(db, since, maxEvents, accept);
  let afterId = '';
  let n = 0;
  for (;;) {
    const page = await db
      .selectFrom('lookup_events')
      .selectAll()
      .where((eb) => eb.or([eb('at', '>', from), eb.and([eb('at', '=', from), eb('id', '>', afterId)])]))
      .orderBy('at')
      .orderBy('id')
      .limit(PAGE)
      .execute();
    for (const r of page) {
      if (accept && !accept(r.account_id)) continue;
      observe(fromRow(r));
      n++;
    }
    if (page.length < PAGE) return n;
    const last = page[page.length - 1]!;
    from = Number(last.at);
    afterId = last.id;
  }
}

/** Ids and accounts only: a partition's count reads far more rows than it keeps. */
const COUNT_PAGE = 20_000;

/**
 * When the newest maxEvents events replayed begin (every event at that time included), or
 * `since` when there are fewer. With `accept`, only its events count: a partition's own newest,
 * not its share of the whole fleet's (the other partitions' events would crowd out its day).
 */
async function replayStart(db: Kysely<Database>, since: number, maxEvents: number, accept?: (accountId: string) => boolean): Promise<number> {
  const cut = await db.selectFrom('lookup_events').select('at').where('at', '>=', since).orderBy('at', 'desc').limit(1).offset(maxEvents - 1).executeTakeFirst();
  // Fewer than maxEvents in the window altogether: a partition has fewer still.
  if (!cut) return since;
  if (!accept) return Number(cut.at);
  let n = 0;
  let start = since;
  await newestFirst(
    (bound) =>
      db
        .selectFrom('lookup_events')
        .select(['at', 'id', 'account_id'])
        .where('at', '>=', since)
        .$if(bound !== undefined, (q) => q.where((eb) => eb.or([eb('at', '<', bound!.at), eb.and([eb('at', '=', bound!.at), eb('id', '<', bound!.id)])])))
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(COUNT_PAGE)
        .execute(),
    (r) => ({ at: Number(r.at), id: r.id }),
    (r) => {
      if (!accept(r.account_id) || ++n < maxEvents) return false;
      start = Number(r.at);
      return true;
    },
  );
  return start;
}

export interface Keyset {
  at: number;
  id: string;
}

/**
 * Rows newest first by (time, id), a page of COUNT_PAGE after another from the last one's key
 * (keyset paging: no offset, each page one index range), until `visit` says stop or the rows run out.
 */
export async function newestFirst<R>(page: (before: Keyset | undefined) => Promise<R[]>, keyOf: (row: R) => Keyset, visit: (row: R) => boolean, pageSize = COUNT_PAGE): Promise<void> {
  let before: Keyset | undefined;
  for (;;) {
    const rows = await page(before);
    for (const r of rows) if (visit(r)) return;
    if (rows.length < pageSize) return;
    before = keyOf(rows[rows.length - 1]!);
  }
}

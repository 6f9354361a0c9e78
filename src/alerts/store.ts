import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { transaction, type CommitLog } from '../db/transaction.js';
import type { AlertCondition, AlertRoute, PagerDutySeverity } from '../policy/index.js';
import { timeOrderedId } from '../util/ids.js';
import type { Random } from '../util/random.js';
import type { AlertMessage, Sink } from './sinks.js';
import { alertDb, type AlertDb, type AlertsTable } from './tables.js';

/** An alert about to be fired: what the evaluator or a direct trigger knows. */
export interface NewAlert {
  condition: AlertCondition | 'test';
  action: 'trigger' | 'resolve';
  /** Unique across the fleet: a second node firing the same key inserts nothing. */
  dedupKey: string;
  subject: string;
  severity: PagerDutySeverity;
  summary: string;
  details: Record<string, string | number | boolean | null>;
}

// An alert names accounts, campaigns and incidents by id only; a free text (an incident's title)
// might carry someone's number or address, so anything shaped like one is cut before storing.
const EMAIL = /[^\s@<>()"',;:]+@[^\s@<>()"',;:]+\.[^\s@<>()"',;:]+/g;
// With a +, any separators; without, no dashes or dots, so ISO dates and times stay.
const PHONE = /\+\d[\d\s().-]{5,}\d|(?<![\w.:-])\d[\d\s()]{6,}\d(?![\w.:-])/g;

/** Removes what looks like an email address or a phone number. */
export function scrub(s: string): string {
  return s.replace(EMAIL, '[redacted]').replace(PHONE, (m) => (m.replace(/\D/g, '').length >= 7 ? '[redacted]' : m));
}

function newId(prefix: string, now: number, random: Random): string {
  return timeOrderedId({ prefix, randomBytes: 8, sequenced: true }, now, random);
}

export class AlertStore {
  readonly db: AlertDb;

  constructor(
    private readonly deps: { db: Kysely<Database>; random: Random; log?: CommitLog; routes: () => readonly AlertRoute[]; onQueued?: () => void },
  ) {
    this.db = alertDb(deps.db);
  }

  /**
   * Records the alert and a delivery per sink of every route listening for its condition, in one
   * transaction. Returns the alert's id, or undefined when its dedup key was fired already (here
   * or on another node): the unique key is what makes a condition fire once across the fleet.
   */
  async fire(a: NewAlert, now: number, opts: { test?: boolean; routes?: readonly AlertRoute[] } = {}): Promise<string | undefined> {
    const condition = a.condition;
    const routes = opts.routes ?? (condition === 'test' ? [] : this.deps.routes().filter((r) => r.on.includes(condition)));
    const id = newId('alr', now, this.deps.random);
    const details = Object.fromEntries(Object.entries(a.details).map(([k, v]) => [k, typeof v === 'string' ? scrub(v) : v]));
    return transaction(
      this.deps.db,
      async (tx) => {
        const db = alertDb(tx);
        const inserted = await db
          .insertInto('alerts')
          .values({
            id,
            dedup_key: a.dedupKey,
            condition: a.condition,
            action: a.action,
            subject: a.subject,
            severity: a.severity,
            summary: scrub(a.summary),
            details: JSON.stringify(details),
            created_at: now,
            test: opts.test ? 1 : 0,
          })
          .onConflict((oc) => oc.column('dedup_key').doNothing())
          .executeTakeFirst();
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) !== 1) return undefined;
        const deliveries = routes.flatMap((r) => (['slack', 'pagerduty'] as const).filter((s) => r[s]).map((sink) => ({ route: r.name, sink })));
        for (const d of deliveries) {
          await db
            .insertInto('alert_deliveries')
            .values({ id: newId('ald', now, this.deps.random), alert_id: id, route: d.route, sink: d.sink, attempts: 0, next_attempt_at: now, delivered_at: null, last_error: null })
            .execute();
        }
        const poke = this.deps.onQueued;
        if (poke && deliveries.length > 0) tx.onCommit(poke);
        return id;
      },
      this.deps.log,
    );
  }

  /**
   * Opens an episode of a level condition if none is open: true for the one node whose
   * conditional update switched it (that node fires the trigger).
   */
  async openEpisode(condition: AlertCondition, episode: string, now: number): Promise<boolean> {
    await this.db.insertInto('alert_conditions').values({ condition, episode: null, since: null, updated_at: now }).onConflict((oc) => oc.column('condition').doNothing()).execute();
    const r = await this.db.updateTable('alert_conditions').set({ episode, since: now, updated_at: now }).where('condition', '=', condition).where('episode', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** The open episode of a level condition, if any. */
  async episodeOf(condition: AlertCondition): Promise<{ episode: string; since: number } | undefined> {
    const row = await this.db.selectFrom('alert_conditions').select(['episode', 'since']).where('condition', '=', condition).executeTakeFirst();
    return row?.episode ? { episode: row.episode, since: Number(row.since) } : undefined;
  }

  /** Closes that episode: true for the one node that closed it (that node fires the resolve). */
  async closeEpisode(condition: AlertCondition, episode: string, now: number): Promise<boolean> {
    const r = await this.db.updateTable('alert_conditions').set({ episode: null, since: null, updated_at: now }).where('condition', '=', condition).where('episode', '=', episode).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async alert(id: string): Promise<AlertMessage | undefined> {
    const row = await this.db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toMessage(row) : undefined;
  }

  /** The newest alerts with their deliveries, for the console. */
  async recent(limit: number): Promise<RecentAlert[]> {
    const rows = await this.db.selectFrom('alerts').selectAll().orderBy('id', 'desc').limit(limit).execute();
    if (rows.length === 0) return [];
    const deliveries = await this.db
      .selectFrom('alert_deliveries')
      .selectAll()
      .where(
        'alert_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      ...toMessage(r),
      deliveries: deliveries
        .filter((d) => d.alert_id === r.id)
        .map((d) => ({
          route: d.route,
          sink: d.sink,
          state: d.delivered_at !== null ? ('delivered' as const) : d.next_attempt_at !== null ? ('pending' as const) : ('failed' as const),
          attempts: d.attempts,
          deliveredAt: d.delivered_at === null ? null : Number(d.delivered_at),
          lastError: d.last_error,
        })),
    }));
  }
}

export interface RecentAlert extends AlertMessage {
  deliveries: Array<{ route: string; sink: Sink; state: 'pending' | 'delivered' | 'failed'; attempts: number; deliveredAt: number | null; lastError: string | null }>;
}

export function toMessage(r: AlertsTable): AlertMessage {
  let details: Record<string, unknown> = {};
  try {
    details = JSON.parse(r.details) as Record<string, unknown>;
  } catch {
    // A damaged row still alerts, without its details.
  }
  return {
    id: r.id,
    condition: r.condition,
    action: r.action,
    subject: r.subject,
    severity: r.severity as PagerDutySeverity,
    summary: r.summary,
    details,
    createdAt: Number(r.created_at),
    test: Number(r.test) === 1,
  };
}

import type SQLite from 'better-sqlite3';
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Db } from '../db/dialect.js';
import type { Database, LookupEventsTable } from '../db/schema.js';
import type { EventMetrics } from './metrics.js';
import type { LookupEvent } from './events.js';
import type { SignupEvent } from './signup.js';

/**
 * Something that acts on lookup events (the detectors plug in here). Delivery is at-least-once:
 * an event whose batch failed, or whose consumer died before it was marked handled, comes again,
 * and two consumers may rarely both hold it. Handlers must tolerate seeing an event id twice.
 */
export interface EventHandler {
  handle(events: LookupEvent[]): Promise<void>;
  /** A new account's sign-up context (not stored: the app's own mirror holds the account). */
  signup?(event: SignupEvent): void | Promise<void>;
  /** Called before this process consumes its first event (start, or take-over): rebuild state. */
  resume?(): Promise<void>;
}

/** What a bus hands its batches to. */
export interface EventProcessor {
  process(events: readonly LookupEvent[]): Promise<void>;
  signup?(event: SignupEvent): Promise<void>;
  /** Before the first batch this process consumes (see EventHandler.resume). */
  resume?(): Promise<void>;
}

/** Rows per INSERT: 23 parameters each stays far below every dialect's bind limit. */
const INSERT_CHUNK = 500;
const SELECT_CHUNK = 1000;

/**
 * Processing of a batch: store every event once (the event id is the primary key, so a
 * redelivered event stores nothing), then give the handlers the events they have not finished
 * yet, then mark those handled. A failure anywhere throws, so the bus retries the whole batch.
 */
export class EventPipeline implements EventProcessor {
  private readonly db: Kysely<Database>;
  private readonly handlers: readonly EventHandler[];
  private readonly sqlite: SQLite.Database | undefined;
  private readonly sqliteFast: ReturnType<typeof sqliteStatements> | undefined;

  constructor(
    db: Pick<Db, 'kysely' | 'sqlite'>,
    handlers: readonly EventHandler[] = [],
    private readonly metrics?: EventMetrics,
  ) {
    this.db = db.kysely;
    this.handlers = handlers;
    this.sqlite = db.sqlite;
    this.sqliteFast = db.sqlite ? sqliteStatements(db.sqlite) : undefined;
  }

  async resume(): Promise<void> {
    for (const h of this.handlers) await h.resume?.();
  }

  async signup(event: SignupEvent): Promise<void> {
    for (const h of this.handlers) await h.signup?.(event);
  }

  async process(batch: readonly LookupEvent[]): Promise<void> {
    const events = uniqueById(batch);
    if (events.length === 0) return;
    const { inserted, fresh } = await this.store(events);
    this.metrics?.stored(inserted);
    if (this.handlers.length === 0) return;
    // Rows just inserted are unhandled by definition; only redelivered ones need looking up.
    const open = await this.unhandled(fresh ? events.filter((e) => !fresh.has(e.id)) : events);
    const pending = events.filter((e) => fresh?.has(e.id) || open.has(e.id));
    if (pending.length === 0) return;
    for (const h of this.handlers) await h.handle(pending);
    await this.markHandled(pending);
  }

  /** Inserts what is new: how many rows were, and (SQLite) which. */
  private async store(events: readonly LookupEvent[]): Promise<{ inserted: number; fresh?: Set<string> }> {
    // Without handlers there is nothing to finish later: store as handled.
    const handled = this.handlers.length === 0 ? 1 : 0;
    // Inside a transaction Kysely holds open across awaits (a directory write), the rows would
    // share its fate; Kysely's own path waits for it to end instead.
    if (this.sqliteFast && !this.sqlite?.inTransaction) {
      const fresh = this.sqliteFast.insert(events.map((e) => toRow(e, handled)));
      return { inserted: fresh.size, fresh };
    }
    let inserted = 0;
    for (let i = 0; i < events.length; i += INSERT_CHUNK) {
      const rows = events.slice(i, i + INSERT_CHUNK).map((e) => toRow(e, handled));
      const result = await this.db
        .insertInto('lookup_events')
        .values(rows)
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
      inserted += Number(result.numInsertedOrUpdatedRows ?? 0n);
    }
    return { inserted };
  }

  private async unhandled(events: readonly LookupEvent[]): Promise<Set<string>> {
    const open = new Set<string>();
    for (let i = 0; i < events.length; i += SELECT_CHUNK) {
      const ids = events.slice(i, i + SELECT_CHUNK).map((e) => e.id);
      const rows = await this.db.selectFrom('lookup_events').select('id').where('id', 'in', ids).where('handled', '=', 0).execute();
      for (const r of rows) open.add(r.id);
    }
    return open;
  }

  private async markHandled(events: readonly LookupEvent[]): Promise<void> {
    if (this.sqliteFast && !this.sqlite?.inTransaction) {
      this.sqliteFast.markHandled(events.map((e) => e.id));
      return;
    }
    for (let i = 0; i < events.length; i += SELECT_CHUNK) {
      const ids = events.slice(i, i + SELECT_CHUNK).map((e) => e.id);
      await this.db.updateTable('lookup_events').set({ handled: 1 }).where('id', 'in', ids).execute();
    }
  }
}

const COLUMNS = Object.keys(toRow({ v: 1, id: '', at: 0, accountId: '', ip: '', subnet: '', network: 'other', operation: 'lookup', outcome: 'allowed', kind: 'phone', numbers: 0, newNumbers: 0, matched: 0, revealed: [], blocks: {}, accountCreatedAt: 0 }, 0)) as Array<keyof LookupEventsTable>;

/**
 * SQLite (the embedded default, where the in-process consumer runs on the request thread): prepared
 * statements on the raw handle, one transaction per batch, about twice as fast as queries Kysely
 * builds per batch. The insert reports row by row which events were new.
 */
function sqliteStatements(sqlite: SQLite.Database): { insert(rows: Insertable<LookupEventsTable>[]): Set<string>; markHandled(ids: string[]): void } {
  const insert = sqlite.prepare(`INSERT INTO lookup_events (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (id) DO NOTHING`);
  const mark = sqlite.prepare('UPDATE lookup_events SET handled = 1 WHERE id IN (SELECT value FROM json_each(?))');
  return {
    insert: sqlite.transaction((rows: Insertable<LookupEventsTable>[]) => {
      const fresh = new Set<string>();
      for (const r of rows) if (insert.run(COLUMNS.map((c) => r[c] ?? null)).changes > 0) fresh.add(r.id);
      return fresh;
    }),
    markHandled: (ids) => void mark.run(JSON.stringify(ids)),
  };
}

function uniqueById(batch: readonly LookupEvent[]): LookupEvent[] {
  const seen = new Set<string>();
  const out: LookupEvent[] = [];
  for (const e of batch) {
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    out.push(e);
  }
  return out;
}

export function toRow(e: LookupEvent, handled: number): Insertable<LookupEventsTable> {
  return {
    id: e.id,
    at: e.at,
    account_id: e.accountId,
    device_id: e.deviceId ?? null,
    ip: e.ip,
    subnet: e.subnet,
    subnet48: e.subnet48 ?? null,
    asn: e.asn ?? null,
    country: e.country ?? null,
    network: e.network,
    tier: e.tier ?? null,
    operation: e.operation,
    outcome: e.outcome,
    scope: e.scope ?? null,
    kind: e.kind,
    numbers: e.numbers,
    new_numbers: e.newNumbers,
    matched: e.matched,
    revealed: JSON.stringify(e.revealed),
    blocks: JSON.stringify(e.blocks),
    account_created_at: e.accountCreatedAt,
    phone_region: e.phoneRegion ?? null,
    handled,
  };
}

/** A stored row back as an event (for the detectors and tests). */
export function fromRow(r: Selectable<LookupEventsTable>): LookupEvent {
  return {
    v: 1,
    id: r.id,
    at: Number(r.at),
    accountId: r.account_id,
    ...(r.device_id !== null ? { deviceId: r.device_id } : {}),
    ip: r.ip,
    subnet: r.subnet,
    ...(r.subnet48 !== null ? { subnet48: r.subnet48 } : {}),
    ...(r.asn !== null ? { asn: Number(r.asn) } : {}),
    ...(r.country !== null ? { country: r.country } : {}),
    network: r.network as LookupEvent['network'],
    ...(r.tier !== null ? { tier: r.tier } : {}),
    operation: r.operation as LookupEvent['operation'],
    outcome: r.outcome as LookupEvent['outcome'],
    ...(r.scope !== null ? { scope: r.scope as NonNullable<LookupEvent['scope']> } : {}),
    kind: r.kind as LookupEvent['kind'],
    numbers: r.numbers,
    newNumbers: r.new_numbers,
    matched: r.matched,
    revealed: JSON.parse(r.revealed) as string[],
    blocks: JSON.parse(r.blocks) as Record<string, number>,
    accountCreatedAt: Number(r.account_created_at),
    ...(r.phone_region !== null ? { phoneRegion: r.phone_region } : {}),
  };
}

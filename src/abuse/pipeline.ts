import type SQLite from 'better-sqlite3';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Db } from '../db/dialect.js';
import type { Database, LookupEventsTable } from '../db/schema.js';
import type { EventMetrics } from './metrics.js';
import type { LookupEvent } from './events.js';
import type { SignupEvent } from './signup.js';

/**
 * Something that acts on lookup events (the detectors plug in here). An event stored by this
 * process is handed over once (again only if handling it failed); after a take-over, events a
 * dead consumer stored reach the handlers through resume(), not again through handle() (unless
 * the handler takes every delivery: everyDelivery). Two consumers may rarely both hold an event
 * (a stalled leader), so handlers must tolerate it.
 */
export interface EventHandler {
  handle(events: LookupEvent[]): Promise<void>;
  /**
   * Set by a handler whose work is idempotent and that has no state to rebuild: handle() is then
   * given every event of each batch delivered, stored now or before (by this process or one that
   * died before handing it over), as resume() would have nothing to replay it from.
   */
  readonly everyDelivery?: boolean;
  /** A new account's sign-up context (not stored: the app's own mirror holds the account). */
  signup?(event: SignupEvent): void | Promise<void>;
  /** Called before this process consumes its first event (start, or take-over): rebuild state. */
  resume?(): Promise<void>;
}

/** What a bus hands its batches to. */
export interface EventProcessor {
  /** `encoded`, if given, is `events` as one JSON array (what a stream consumer read). */
  process(events: readonly LookupEvent[], encoded?: string): Promise<void>;
  /**
   * process() in two steps, so a consumer can store one batch while the handlers work on the one
   * before: stage() stores and picks what the handlers still need; finish() hands it over.
   * Staged batches must be finished, or abandoned, in the order staged.
   */
  stage?(events: readonly LookupEvent[], encoded?: string): Promise<StagedBatch>;
  finish?(staged: StagedBatch): Promise<void>;
  abandon?(staged: StagedBatch): void;
  signup?(event: SignupEvent): Promise<void>;
  /** Before the first batch this process consumes (see EventHandler.resume). */
  resume?(): Promise<void>;
}

/** A stored batch's events the handlers have not finished. */
export interface StagedBatch {
  readonly pending: LookupEvent[];
  /** The whole batch, for handlers that see every delivery (EventHandler.everyDelivery). */
  readonly delivered?: LookupEvent[];
}

/** Ids of failed batches kept for their redelivery; past this many, the oldest are forgotten. */
const UNFINISHED_MAX = 1_000_000;
/** Ids of the latest handed-over batches kept (see EventPipeline.handed): a consumer's backlog re-read is one batch or a few. */
const HANDED_KEPT = 20_000;

/**
 * Processing of a batch: store every event once (the event id is the primary key, so a
 * redelivered event stores nothing), then give the handlers the events this process stored and
 * has not handed over yet (a handler with everyDelivery gets the whole batch). A failure
 * anywhere throws, so the bus retries the whole batch.
 *
 * Which events the handlers still need is known in memory, not from a flag in the table: the
 * handlers' state (the engine's windows) lives in this process too, and a process that takes over
 * rebuilds it from every stored event (EventHandler.resume). So an event stored here is handed
 * over here (again after a failure: `unfinished`), and an event stored by a process that died is
 * part of the rebuild; marking rows handled cost PostgreSQL a second write of every row.
 */
export class EventPipeline implements EventProcessor {
  private readonly handlers: readonly EventHandler[];
  private readonly everyDelivery: boolean;
  private readonly insert: Insert;
  private readonly sqlite: SQLite.Database | undefined;
  private readonly sqliteFast: ((events: readonly LookupEvent[]) => Set<string>) | undefined;
  /** Ids staged and not yet finished or abandoned: a later batch leaves them to the earlier one. */
  private readonly inFlight = new Set<string>();
  /** Ids this process stored (or may have: see unsure) whose handling failed or was abandoned: handed over on redelivery. */
  private readonly unfinished = new Set<string>();
  /**
   * Ids of the latest batches handed over (at most HANDED_KEPT ids): a batch redelivered because its
   * acknowledgement failed comes back within these, and they are not taken for unfinished when
   * its insert fails too. One array of ids per batch: the set is built only after a failed insert.
   */
  private readonly handed: string[][] = [];
  private handedCount = 0;
  /** Whether a failed insert may have committed: the database is a server, reached over a connection. */
  private readonly replyMayBeLost: boolean;

  constructor(
    db: Pick<Db, 'kysely' | 'dialect' | 'sqlite'>,
    handlers: readonly EventHandler[] = [],
    private readonly metrics?: EventMetrics,
  ) {
    this.handlers = handlers;
    this.everyDelivery = handlers.some((h) => h.everyDelivery === true);
    this.insert = db.dialect === 'postgres' ? postgresInsert(db.kysely) : sqliteInsert(db.kysely);
    // SQLite runs in this process: a statement that throws has rolled back.
    this.replyMayBeLost = db.dialect === 'postgres';
    this.sqlite = db.sqlite;
    this.sqliteFast = db.sqlite ? sqliteStatements(db.sqlite) : undefined;
  }

  async resume(): Promise<void> {
    // The handlers rebuild from every stored event: what failed before is part of that now.
    this.unfinished.clear();
    for (const h of this.handlers) await h.resume?.();
  }

  async signup(event: SignupEvent): Promise<void> {
    for (const h of this.handlers) await h.signup?.(event);
  }

  /**
   * `encoded`, when the caller has it (a stream consumer does), is the batch as one JSON array
   * exactly as received: stored without encoding anything again.
   */
  async process(batch: readonly LookupEvent[], encoded?: string): Promise<void> {
    await this.finish(await this.stage(batch, encoded));
  }

  async stage(batch: readonly LookupEvent[], encoded?: string): Promise<StagedBatch> {
    if (batch.length === 0) return { pending: [] };
    let fresh: Set<string>;
    if (this.fast()) fresh = this.sqliteFast!(batch);
    else {
      try {
        fresh = new Set(await this.insert(encoded ?? JSON.stringify(batch)));
      } catch (err) {
        if (this.replyMayBeLost) this.unsure(batch);
        throw err;
      }
    }
    this.metrics?.stored(fresh.size);
    if (this.handlers.length === 0) return { pending: [] };
    const pending: LookupEvent[] = [];
    for (const e of batch) {
      if (this.inFlight.has(e.id) || !(fresh.has(e.id) || this.unfinished.has(e.id))) continue;
      this.unfinished.delete(e.id);
      this.inFlight.add(e.id);
      pending.push(e);
    }
    return this.everyDelivery ? { pending, delivered: batch.slice() } : { pending };
  }

  async finish(staged: StagedBatch): Promise<void> {
    const { pending } = staged;
    const delivered = staged.delivered ?? [];
    if (pending.length === 0 && delivered.length === 0) return;
    try {
      for (const h of this.handlers) {
        const events = h.everyDelivery === true ? delivered : pending;
        if (events.length > 0) await h.handle(events);
      }
    } catch (err) {
      this.abandon(staged);
      throw err;
    }
    if (pending.length === 0) return;
    let newest = 0;
    for (const e of pending) {
      this.inFlight.delete(e.id);
      if (e.at > newest) newest = e.at;
    }
    if (this.replyMayBeLost) this.handedRecently(pending.map((e) => e.id));
    this.metrics?.handled(newest);
  }

  private handedRecently(ids: string[]): void {
    this.handed.push(ids);
    this.handedCount += ids.length;
    while (this.handedCount - this.handed[0]!.length >= HANDED_KEPT) this.handedCount -= this.handed.shift()!.length;
  }

  /** Gives up a staged batch: its events stay stored, and are handed over when redelivered. */
  abandon(staged: StagedBatch): void {
    for (const e of staged.pending) if (this.inFlight.delete(e.id)) this.keepUnfinished(e.id);
  }

  /**
   * A failed insert may have committed all the same, its reply lost (the connection dropped after
   * the commit): the redelivery then conflicts on every id, stores nothing new, and would hand
   * nothing over, though no handler saw these events. So they count as unfinished. Only after a
   * failed insert: a redelivery whose insert succeeds hands over, as always, only what it stored
   * and what failed before. An event already handed over and redelivered (its acknowledgement
   * failed) is left out while it is among the latest handed over (`handed`); one older than those,
   * or one a previous consumer stored, may be handed over twice, which handlers tolerate.
   */
  private unsure(batch: readonly LookupEvent[]): void {
    if (this.handlers.length === 0) return;
    const handed = new Set(this.handed.flat());
    for (const e of batch) if (!this.inFlight.has(e.id) && !handed.has(e.id)) this.keepUnfinished(e.id);
  }

  private keepUnfinished(id: string): void {
    this.unfinished.add(id);
    if (this.unfinished.size > UNFINISHED_MAX) this.unfinished.delete(this.unfinished.values().next().value!);
  }

  /**
   * SQLite, the embedded default: prepared statements on the raw handle, one transaction per
   * batch. Not while Kysely holds a transaction open on the connection across awaits (a directory
   * write): the rows would share its fate, so they wait for it through Kysely instead.
   */
  private fast(): boolean {
    return this.sqliteFast !== undefined && !this.sqlite?.inTransaction;
  }
}

/**
 * Event field -> column, in the table's order. On PostgreSQL a batch is stored by one statement
 * whose only parameter is the batch as a JSON array, taken apart by the database: Kysely building
 * a 500-row insert of 11,500 parameters cost the worker more than the database's own work.
 */
const FIELDS: ReadonlyArray<readonly [field: keyof LookupEvent, column: keyof LookupEventsTable, pgType: string]> = [
  ['id', 'id', 'text'],
  ['at', 'at', 'bigint'],
  ['accountId', 'account_id', 'text'],
  ['deviceId', 'device_id', 'text'],
  ['ip', 'ip', 'text'],
  ['subnet', 'subnet', 'text'],
  ['subnet48', 'subnet48', 'text'],
  ['asn', 'asn', 'bigint'],
  ['country', 'country', 'text'],
  ['network', 'network', 'text'],
  ['tier', 'tier', 'text'],
  ['operation', 'operation', 'text'],
  ['outcome', 'outcome', 'text'],
  ['scope', 'scope', 'text'],
  ['kind', 'kind', 'text'],
  ['numbers', 'numbers', 'integer'],
  ['newNumbers', 'new_numbers', 'integer'],
  ['matched', 'matched', 'integer'],
  ['revealed', 'revealed', 'json'],
  ['blocks', 'blocks', 'json'],
  ['accountCreatedAt', 'account_created_at', 'bigint'],
  ['phoneRegion', 'phone_region', 'text'],
];
const COLUMN_LIST = FIELDS.map(([, c]) => c).join(', ');

type Insert = (json: string) => Promise<string[]>;

/**
 * A prepared insert per row, bound straight from the event's fields: on SQLite this beat one
 * statement taking the batch apart with json_each (6 µs against 10-13 µs a row, measured), as
 * SQLite's JSON functions re-read the element for every field.
 */
function sqliteStatements(sqlite: SQLite.Database): (events: readonly LookupEvent[]) => Set<string> {
  const insert = sqlite.prepare(`INSERT INTO lookup_events (${COLUMN_LIST}) VALUES (${FIELDS.map(() => '?').join(', ')}) ON CONFLICT (id) DO NOTHING`);
  return sqlite.transaction((events: readonly LookupEvent[]) => {
    const fresh = new Set<string>();
    for (const e of events) {
      const r = insert.run(
        e.id, e.at, e.accountId, e.deviceId ?? null, e.ip, e.subnet, e.subnet48 ?? null, e.asn ?? null, e.country ?? null,
        e.network, e.tier ?? null, e.operation, e.outcome, e.scope ?? null, e.kind, e.numbers, e.newNumbers, e.matched,
        JSON.stringify(e.revealed), JSON.stringify(e.blocks), e.accountCreatedAt, e.phoneRegion ?? null,
      );
      if (r.changes > 0) fresh.add(e.id);
    }
    return fresh;
  });
}

/** SQLite through Kysely (see EventPipeline.fast): the batch taken apart by json_each. */
function sqliteInsert(db: Kysely<Database>): Insert {
  // `->` gives arrays and objects back as JSON text. `WHERE true` is SQLite's required
  // disambiguation between an INSERT ... SELECT and its ON CONFLICT clause.
  // MATERIALIZED: each element's text is rendered once, not once per field read from it.
  const values = sql.raw(FIELDS.map(([f, , t]) => `e.v ${t === 'json' ? '->' : '->>'} '$.${f}'`).join(', '));
  return async (json) => {
    const result = await sql<{ id: string }>`WITH e(v) AS MATERIALIZED (SELECT value FROM json_each(${json}))
      INSERT INTO lookup_events (${sql.raw(COLUMN_LIST)}) SELECT ${values} FROM e WHERE true
      ON CONFLICT (id) DO NOTHING RETURNING id`.execute(db);
    return result.rows.map((r) => r.id);
  };
}

/** PostgreSQL: the batch taken apart by json_to_recordset, in the database's process, in one round trip. */
function postgresInsert(db: Kysely<Database>): Insert {
  const record = FIELDS.map(([f, , t]) => `"${f}" ${t}`).join(', ');
  const values = FIELDS.map(([f, , t]) => (t === 'json' ? `x."${f}"::text` : `x."${f}"`)).join(', ');
  return async (json) => {
    const result = await sql<{ id: string }>`INSERT INTO lookup_events (${sql.raw(COLUMN_LIST)})
      SELECT ${sql.raw(values)} FROM json_to_recordset(${json}::json) AS x(${sql.raw(record)})
      ON CONFLICT (id) DO NOTHING RETURNING id`.execute(db);
    return result.rows.map((r) => r.id);
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

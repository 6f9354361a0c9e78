import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresAdapter, PostgresDialect, sql, SqliteDialect, SqliteDriver, type DatabaseConnection, type Dialect, type Driver, type SqliteDialectConfig } from 'kysely';
import { chmodSync, mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import pg from 'pg';
import type { DatabaseConfig } from '../config/config.js';
import type { Database } from './schema.js';
import { cachingSqlite } from './statement-cache.js';

export interface Db {
  kysely: Kysely<Database>;
  dialect: 'sqlite' | 'postgres';
  /** The raw SQLite handle where the dialect is SQLite: the discovery hot path uses prepared statements on it. */
  sqlite?: SQLite.Database;
  /** The raw pool where the dialect is PostgreSQL. */
  pool?: pg.Pool;
  close(): Promise<void>;
}

const INT8_OID = 20;

/**
 * Kysely's SQLite transactions begin DEFERRED: the first read takes a snapshot, and a write after it
 * finds another process's commit in between and fails at once with SQLITE_BUSY_SNAPSHOT, which no
 * busy timeout waits out (serve nodes and workers with Redis may share one SQLite folder: a
 * campaign's recording read the open campaign, a worker's batch committed, the insert failed and the
 * worker exited). So a transaction takes the directory file's write lock first, where the busy
 * timeout does wait, and sees no commit it did not wait for. Not with BEGIN IMMEDIATE: that locks
 * every attached file too, and a serve node's lookup events (their own file) would wait for a
 * campaign's whole recording. The lock is taken by a write that changes nothing, on Kysely's
 * migration table (in the directory's file of every migrated database; a database never migrated
 * has nothing to keep consistent and begins as before). In one process nothing changes: its one
 * connection already runs one transaction at a time. Kysely has no option for this.
 */
class WriteFirstSqliteDriver extends SqliteDriver {
  #migrated = false;
  constructor(
    config: SqliteDialectConfig,
    private readonly sqlite: SQLite.Database,
  ) {
    super(config);
  }
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    // Read before BEGIN: inside, this read would take the very snapshot the write must not follow.
    this.#migrated ||= this.sqlite.prepare("SELECT 1 FROM main.sqlite_master WHERE name = 'kysely_migration'").get() !== undefined;
    await connection.executeQuery(CompiledQuery.raw('begin'));
    if (!this.#migrated) return;
    try {
      await connection.executeQuery(CompiledQuery.raw('update main.kysely_migration set name = name where 0'));
    } catch (err) {
      // Kysely rolls back only a transaction whose BEGIN returned: left open, this connection's
      // later writes (the raw event and limit statements join an open transaction) would never commit.
      await connection.executeQuery(CompiledQuery.raw('rollback'));
      throw err;
    }
  }
}

class WriteFirstSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(
    config: SqliteDialectConfig,
    private readonly sqlite: SQLite.Database,
  ) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new WriteFirstSqliteDriver(this.#config, this.sqlite);
  }
}

export function openDb(config: DatabaseConfig, options: { poolSize?: number; searchPath?: string } = {}): Db {
  if (config.dialect === 'sqlite') {
    if (config.path !== ':memory:') mkdirSync(dirname(config.path), { recursive: true, mode: 0o700 });
    const sqlite = new SQLite(config.path);
    if (config.path !== ':memory:') chmodSync(config.path, 0o600);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    // The directory's indexes are hashes, so writes land all over them: a larger page cache
    // keeps a multi-million-row import from going to disk for every insert.
    sqlite.pragma('cache_size = -131072');
    sqlite.pragma('temp_store = MEMORY');
    // Every discovery call's event is a row, and each row dirties a leaf of the events' account
    // index somewhere in it: at SQLite's default (a checkpoint every 1,000 WAL pages) those leaves
    // were copied back to the file and synced again and again. Every 10,000 pages (~40 MB of WAL)
    // copies a leaf written many times once: storing an event measured 22.6 -> 17.4 µs of CPU in
    // the lookup bench. The setting is the connection's (SQLite has none per attached file), so the
    // directory's file, written rarely, is checkpointed as seldom. Durability is the WAL's, unchanged.
    sqlite.pragma('wal_autocheckpoint = 10000');
    // An erasure's keyed hashes must leave the directory's file, not sit in freed space for whoever
    // holds a copy and the hash key beside it: deleted content is overwritten (the directory's file
    // only; the events' and limits' files hold no contact values and delete in bulk).
    sqlite.pragma('main.secure_delete = ON');
    // The events' and limits' files sit beside the directory's real file, whatever link names it:
    // through a symlink they would be others, new and empty (a fresh budget for every caller).
    const real = config.path === ':memory:' ? config.path : realpathSync(config.path);
    attachFile(sqlite, EVENTS_SCHEMA, eventsPathFor(real));
    attachFile(sqlite, LIMITS_SCHEMA, limitsPathFor(real));
    const kysely = new Kysely<Database>({ dialect: new WriteFirstSqliteDialect({ database: cachingSqlite(sqlite) }, sqlite) });
    return {
      kysely,
      dialect: 'sqlite',
      sqlite,
      close: () => kysely.destroy(),
    };
  }
  const pool = new pg.Pool({
    connectionString: config.url,
    max: options.poolSize ?? 10,
    // Per-pool parsers: epoch-ms bigints come back as numbers without touching pg's globals.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
    ...(options.searchPath ? { options: `-c search_path=${options.searchPath}` } : {}),
  });
  // An idle client erroring (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  // Nor one checked out: the pool listens only to idle clients, and a session ended between two
  // statements of its holder (pg_terminate_backend, a failover: FATAL 57P01), or whose 'end' comes
  // after its failed query but before its release, emits 'error' on the client with no listener,
  // an uncaught exception. The holder's next query fails (not queryable) and the pool drops the
  // client on release, so nothing is lost by hearing it here.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const dialect: Dialect = new PostgresDialect({ pool });
  const kysely = new Kysely<Database>({ dialect });
  return { kysely, dialect: 'postgres', pool, close: () => kysely.destroy() };
}

/**
 * Lookup events live in a SQLite file of their own beside the directory's (`findguard.sqlite` ->
 * `findguard.events.sqlite`). Every discovery call writes one, and a write to the directory's
 * file would drop the page cache of every connection reading it (the discovery reader, the
 * match workers) and grow its WAL: lookups measured twice as slow while events shared the file.
 */
export function eventsPathFor(path: string): string {
  return besidePath(path, 'events');
}

/**
 * The embedded limits' saved state (table limit_state) lives in a file of its own too
 * (`findguard.limits.sqlite`), for the events' reason: a node saves it before every answer that
 * changed a budget, and each such commit to the directory's file dropped the page cache of the
 * connections matching against it (the snapshot reader, every match worker), so every batch
 * started cold: a probe of a 1,000,000-entry index measured ~75 µs after such a write against
 * ~8 µs without. Unlike the events, losing this file would hand every caller a fresh budget, so
 * it is never started again silently (db/migrate.ts checkLimitsFile).
 */
export function limitsPathFor(path: string): string {
  return besidePath(path, 'limits');
}

function besidePath(path: string, part: string): string {
  if (path === ':memory:') return path;
  const ext = extname(path);
  return join(dirname(path), `${basename(path, ext)}.${part}${ext}`);
}

/** Attached as a schema: SQLite resolves an unqualified table name in main first, then in attached files, so queries name `lookup_events` and `limit_state` alone. */
function attachFile(sqlite: SQLite.Database, schema: string, path: string): void {
  sqlite.prepare(`ATTACH DATABASE ? AS ${schema}`).run(path);
  if (path !== ':memory:') chmodSync(path, 0o600);
  sqlite.pragma(`${schema}.journal_mode = WAL`);
  sqlite.pragma(`${schema}.synchronous = NORMAL`);
}

export const EVENTS_SCHEMA = 'events';
export const LIMITS_SCHEMA = 'limits';

/**
 * The file attached as the events schema ('' for an in-memory one), or undefined where there is
 * none: PostgreSQL, or a SQLite handle not opened by openDb.
 */
export async function eventsSchemaFile(db: Kysely<unknown>): Promise<string | undefined> {
  return schemaFile(db, EVENTS_SCHEMA);
}

/** The file attached as `schema` ('' for an in-memory one), or undefined where there is none. */
export async function schemaFile(db: Kysely<unknown>, schema: string): Promise<string | undefined> {
  if (isPostgres(db)) return undefined;
  const schemas = await sql<{ name: string; file: string }>`PRAGMA database_list`.execute(db);
  return schemas.rows.find((r) => r.name === schema)?.file;
}

/** Migrations get a Kysely<unknown>, stores a Kysely<Database>; either asks this for dialect-specific SQL. */
export function isPostgres(db: { getExecutor(): { readonly adapter: unknown } }): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

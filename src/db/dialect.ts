import SQLite from 'better-sqlite3';
import { Kysely, PostgresAdapter, PostgresDialect, SqliteDialect, type Dialect } from 'kysely';
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pg from 'pg';
import type { DatabaseConfig } from '../config/config.js';
import type { Database } from './schema.js';

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
    const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
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
  const dialect: Dialect = new PostgresDialect({ pool });
  const kysely = new Kysely<Database>({ dialect });
  return { kysely, dialect: 'postgres', pool, close: () => kysely.destroy() };
}

/** Migrations get a Kysely<unknown>; they ask this to choose dialect-specific column types. */
export function isPostgres(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

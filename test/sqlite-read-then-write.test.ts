import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { eventsPathFor, openDb, type Db } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { transaction } from '../src/db/transaction.js';

/**
 * Processes sharing one SQLite folder (serve nodes and workers with Redis): a transaction that reads
 * and then writes must not fail because another process committed in between. Found as a worker
 * that exited on SQLITE_BUSY_SNAPSHOT while recording a late answer into a campaign
 * (test/review/sqlite-late-answer-during-recording). The other process is a second connection to
 * the same file, which SQLite locks as it locks another process.
 */
let dir: string | undefined;
let db: Db | undefined;
let other: SQLite.Database | undefined;
let events: SQLite.Database | undefined;
afterEach(async () => {
  other?.close();
  events?.close();
  await db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  other = events = db = dir = undefined;
});

/** A migrated database with a table of its own, in a folder of its own: its file's path. */
async function migratedWithTable(): Promise<{ file: string; opened: Db }> {
  dir = mkdtempSync(join(tmpdir(), 'fg-read-then-write-'));
  const file = join(dir, 'findguard.sqlite');
  const opened = (db = openDb({ dialect: 'sqlite', path: file }));
  await migrateToLatest(opened.kysely);
  await sql`create table t (k text primary key, v integer not null)`.execute(opened.kysely);
  return { file, opened };
}

it('a transaction that reads then writes holds off another connection\'s write until it commits', async () => {
  const { file, opened } = await migratedWithTable();
  other = new SQLite(file);
  events = new SQLite(eventsPathFor(file));
  // No wait: whether the other write is let in shows at once.
  other.pragma('busy_timeout = 0');
  events.pragma('busy_timeout = 0');
  const write = other.prepare("insert into t (k, v) values ('other', 1)");
  const pruneEvents = events.prepare('delete from lookup_events where at < 0');
  let otherGotIn = false;
  await transaction(opened.kysely, async (trx) => {
    const { rows } = await sql<{ n: number }>`select count(*) as n from t`.execute(trx);
    expect(rows[0]?.n).toBe(0);
    try {
      write.run();
      otherGotIn = true;
    } catch (err) {
      expect((err as { code?: string }).code).toBe('SQLITE_BUSY');
    }
    // The lookup events' file is not held: a serve node's events are stored meanwhile.
    expect(pruneEvents.run().changes).toBe(0);
    // Before: the other write went in, and this one failed with SQLITE_BUSY_SNAPSHOT.
    await sql`insert into t (k, v) values ('mine', ${Number(rows[0]?.n) + 1})`.execute(trx);
  });
  expect(otherGotIn).toBe(false);
  // Once committed, the other connection writes as usual.
  write.run();
  expect(other.prepare('select k from t order by k').pluck().all()).toEqual(['mine', 'other']);
});

it('a transaction that cannot take the lock in time fails, and leaves no transaction open behind it', async () => {
  const { file, opened } = await migratedWithTable();
  // Another process in a long write: this one waits 50 ms, not the 5 s of a deployment.
  opened.sqlite!.pragma('busy_timeout = 50');
  other = new SQLite(file);
  other.exec('BEGIN IMMEDIATE');
  await expect(transaction(opened.kysely, async (trx) => sql`insert into t (k, v) values ('mine', 1)`.execute(trx))).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
  // Before: the BEGIN stayed open, every later transaction failed and plain writes were never committed.
  expect(opened.sqlite!.inTransaction).toBe(false);
  other.exec('COMMIT');
  await transaction(opened.kysely, async (trx) => sql`insert into t (k, v) values ('mine', 2)`.execute(trx));
  await sql`insert into t (k, v) values ('plain', 3)`.execute(opened.kysely);
  expect(other.prepare('select k from t order by k').pluck().all()).toEqual(['mine', 'plain']);
});

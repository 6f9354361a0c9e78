import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventsPathFor, openDb, type Db } from '../src/db/dialect.js';
import { ensureEventsTable, migrateToLatest } from '../src/db/migrate.js';
import { migrations } from '../src/db/migrations/index.js';
import type { Database } from '../src/db/schema.js';
import { makeEvent } from './helpers/events.js';
import { EventPipeline, fromRow } from '../src/abuse/pipeline.js';

/** SQLite keeps lookup events in a file of their own; a data folder made before that is moved over. */
describe('lookup events in their own SQLite file', () => {
  let dir: string;
  let db: Db | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('are moved out of the directory file, rows and indexes, by the migration', async () => {
    dir = mkdtempSync(join(tmpdir(), 'findguard-mig-'));
    const path = join(dir, 'findguard.sqlite');
    expect(eventsPathFor(path)).toBe(join(dir, 'findguard.events.sqlite'));
    // The layout of an earlier release: every migration before the move, events in the directory's file.
    const old = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(path) }) });
    const before = new Migrator({ db: old, provider: { getMigrations: async () => migrations } });
    expect((await before.migrateTo('20261203000000-incidents')).error).toBeUndefined();
    const events = [makeEvent(1), makeEvent(2, { deviceId: 'd', revealed: ['v1'] })];
    await new EventPipeline({ kysely: old, dialect: 'sqlite' }).process(events);
    await old.destroy();

    db = openDb({ dialect: 'sqlite', path });
    const result = await migrateToLatest(db.kysely);
    expect(result.results?.map((r) => r.migrationName)).toEqual(Object.keys(migrations).filter((name) => name > '20261203000000-incidents'));
    const rows = await db.kysely.selectFrom('lookup_events').selectAll().orderBy('id').execute();
    expect(rows.map(fromRow)).toEqual(events);
    await db.close();
    db = undefined;

    const directory = new SQLite(path, { readonly: true });
    const eventsFile = new SQLite(eventsPathFor(path), { readonly: true });
    try {
      expect(directory.prepare(`SELECT name FROM sqlite_master WHERE tbl_name = 'lookup_events'`).all()).toEqual([]);
      const moved = eventsFile.prepare(`SELECT type, name FROM sqlite_master WHERE tbl_name = 'lookup_events' ORDER BY name`).all();
      expect(moved).toEqual([
        { type: 'table', name: 'lookup_events' },
        { type: 'index', name: 'lookup_events_account_at' },
        { type: 'index', name: 'lookup_events_at' },
        { type: 'index', name: 'sqlite_autoindex_lookup_events_1' },
      ]);
      expect(eventsFile.prepare('SELECT count(*) AS n FROM lookup_events').get()).toEqual({ n: 2 });
    } finally {
      directory.close();
      eventsFile.close();
    }
  });

  it('a lost events file is started again, empty, with the table as the migrations make it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'findguard-mig-'));
    const path = join(dir, 'findguard.sqlite');
    db = openDb({ dialect: 'sqlite', path });
    expect((await migrateToLatest(db.kysely)).eventsFileRestarted).toBeUndefined();
    expect(await ensureEventsTable(db.kysely)).toBeUndefined();
    await new EventPipeline(db).process([makeEvent(1)]);
    const columns = db.sqlite!.prepare(`SELECT name FROM pragma_table_info('lookup_events')`).all();
    await db.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(eventsPathFor(path) + suffix, { force: true });
    expect(existsSync(eventsPathFor(path))).toBe(false);

    db = openDb({ dialect: 'sqlite', path });
    const again = await migrateToLatest(db.kysely);
    expect(again.results).toEqual([]);
    expect(again.eventsFileRestarted).toBe(eventsPathFor(path));
    expect(db.sqlite!.prepare(`SELECT name FROM pragma_table_info('lookup_events')`).all()).toEqual(columns);
    expect(db.sqlite!.prepare(`SELECT count(*) AS n FROM main.sqlite_master WHERE name = 'lookup_events'`).get()).toEqual({ n: 0 });
    await new EventPipeline(db).process([makeEvent(2)]);
    expect((await db.kysely.selectFrom('lookup_events').select('id').execute()).map((r) => r.id)).toEqual([makeEvent(2).id]);
    expect(await ensureEventsTable(db.kysely)).toBeUndefined();
  });

  it('a new data folder writes events only to the events file, and the migration can be undone', async () => {
    dir = mkdtempSync(join(tmpdir(), 'findguard-mig-'));
    const path = join(dir, 'findguard.sqlite');
    db = openDb({ dialect: 'sqlite', path });
    await migrateToLatest(db.kysely);
    await new EventPipeline(db).process([makeEvent(3)]);
    const list = db.sqlite!.prepare(`SELECT name FROM pragma_database_list WHERE name <> 'temp' ORDER BY seq`).all();
    expect(list).toEqual([{ name: 'main' }, { name: 'events' }, { name: 'limits' }]);
    expect(db.sqlite!.prepare('SELECT count(*) AS n FROM events.lookup_events').get()).toEqual({ n: 1 });

    const migrator = new Migrator({ db: db.kysely, provider: { getMigrations: async () => migrations } });
    expect((await migrator.migrateTo('20261203000000-incidents')).error).toBeUndefined();
    expect(db.sqlite!.prepare('SELECT count(*) AS n FROM main.lookup_events').get()).toEqual({ n: 1 });
    expect(db.sqlite!.prepare(`SELECT count(*) AS n FROM events.sqlite_master`).get()).toEqual({ n: 0 });
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    expect(db.sqlite!.prepare('SELECT count(*) AS n FROM events.lookup_events').get()).toEqual({ n: 1 });
  });
});

import SQLite from 'better-sqlite3';
import { rmSync } from 'node:fs';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HitRates } from '../src/abuse/hit-rates.js';
import { eventsPathFor } from '../src/db/dialect.js';
import { ensureEventsTable, migrateToLatest } from '../src/db/migrate.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';
import { sqliteFolderPerTest } from './helpers/sqlite-folder.js';

/** What the engine publishes is what every node reads: each country's latest rate, in one write per 200 countries. */
describeEachDialect('hit rates: publishing', (dialect) => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  it('inserts new countries and overwrites known ones, past a chunk of 200, at most every ten minutes', async () => {
    svc = await startTestService(dialect);
    const db = svc.ctx.db.kysely;
    const rates = new HitRates(db, undefined, pino({ level: 'silent' }));
    // 450 codes: three statements' worth. Not real regions: the table does not care.
    const codes = Array.from({ length: 450 }, (_, i) => `C${i}`);
    await rates.publish(codes.map((country, i) => ({ country, numbers: 1000 + i, matched: i })), T0);
    // Ten minutes not passed: nothing written.
    await rates.publish([{ country: codes[0]!, numbers: 1, matched: 1 }], T0 + 60_000);
    await rates.publish(
      [
        { country: codes[0]!, numbers: 5, matched: 2 },
        { country: codes[449]!, numbers: 7, matched: 3 },
        { country: 'ZZnew', numbers: 9, matched: 4 },
      ],
      T0 + 600_000,
    );
    const rows = await db.selectFrom('hit_rates').selectAll().orderBy('country').execute();
    const byCountry = new Map(rows.map((r) => [r.country, { numbers: Number(r.numbers), matched: Number(r.matched), at: Number(r.updated_at) }]));
    expect(byCountry.size).toBe(451);
    expect(byCountry.get(codes[0]!)).toEqual({ numbers: 5, matched: 2, at: T0 + 600_000 });
    expect(byCountry.get(codes[449]!)).toEqual({ numbers: 7, matched: 3, at: T0 + 600_000 });
    expect(byCountry.get('ZZnew')).toEqual({ numbers: 9, matched: 4, at: T0 + 600_000 });
    expect(byCountry.get(codes[200]!)).toEqual({ numbers: 1200, matched: 200, at: T0 });
  });
});

/**
 * On SQLite the rates live in the events file: a commit to the directory's file empties the page
 * cache of every connection matching against it, and the engine rewrites the rates every ten
 * minutes of event time. A lost events file starts them again with the events.
 */
describe('hit rates: in the SQLite events file', () => {
  const folder = sqliteFolderPerTest('fg-hit-rates-');

  it("publishing writes nothing to the directory's file; a lost events file starts the table again", async () => {
    const data = folder();
    const path = data.path;
    let db = await data.open();
    await migrateToLatest(db.kysely);
    const watcher = new SQLite(path, { readonly: true });
    try {
      const version = () => watcher.pragma('data_version', { simple: true }) as number;
      const before = version();
      await new HitRates(db.kysely, undefined, pino({ level: 'silent' })).publish([{ country: 'DE', numbers: 1000, matched: 120 }], T0);
      // Another connection's commit to the file changes the version this connection reads.
      expect(version()).toBe(before);
      expect(watcher.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'hit_rates'`).get()).toEqual({ n: 0 });
    } finally {
      watcher.close();
    }
    const reader = new HitRates(db.kysely, undefined, pino({ level: 'silent' }));
    await reader.fresh(T0);
    expect(reader.rate('DE')).toBeCloseTo(0.12);
    const columns = db.sqlite!.prepare(`SELECT name, type FROM pragma_table_info('hit_rates')`).all();
    await data.close();

    for (const suffix of ['', '-wal', '-shm']) rmSync(eventsPathFor(path) + suffix, { force: true });
    db = await data.open();
    expect((await migrateToLatest(db.kysely)).eventsFileRestarted).toBe(eventsPathFor(path));
    expect(db.sqlite!.prepare(`SELECT name, type FROM events.pragma_table_info('hit_rates')`).all()).toEqual(columns);
    await new HitRates(db.kysely, undefined, pino({ level: 'silent' })).publish([{ country: 'FR', numbers: 800, matched: 90 }], T0);
    expect(db.sqlite!.prepare('SELECT country FROM events.hit_rates').all()).toEqual([{ country: 'FR' }]);
    expect(await ensureEventsTable(db.kysely)).toBeUndefined();
  });
});

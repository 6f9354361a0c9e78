import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type Generated } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { cachingSqlite } from './statement-cache.js';

describe('cachingSqlite: the statements Kysely prepares, kept', () => {
  let sqlite: SQLite.Database;
  afterEach(() => {
    if (sqlite.open) sqlite.close();
  });
  const open = (): SQLite.Database => {
    sqlite = new SQLite(':memory:');
    sqlite.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    sqlite.prepare('INSERT INTO t (v) VALUES (?), (?), (?)').run('a', 'b', 'c');
    return sqlite;
  };

  it('keeps a text from its second use, not its first', () => {
    const db = cachingSqlite(open());
    const first = db.prepare('SELECT v FROM t WHERE id = ?');
    const second = db.prepare('SELECT v FROM t WHERE id = ?');
    const third = db.prepare('SELECT v FROM t WHERE id = ?');
    expect(second).not.toBe(first);
    expect(third).toBe(second);
    expect(db.cached).toBe(1);
    expect(third.all([2])).toEqual([{ v: 'b' }]);
  });

  it('holds at most max texts, the least recently used out first', () => {
    const db = cachingSqlite(open(), 2);
    const q = (n: number): string => `SELECT ${n} AS n`;
    for (const n of [1, 1, 2, 2]) db.prepare(q(n));
    const one = db.prepare(q(1)); // 1 is now the most recent
    for (const n of [3, 3]) db.prepare(q(n)); // 2 goes
    expect(db.cached).toBe(2);
    expect(db.prepare(q(1))).toBe(one);
    const two = db.prepare(q(2));
    expect(db.prepare(q(2))).not.toBe(two); // seen once again, not kept yet
  });

  it('gives a fresh statement while the kept one is still iterating', () => {
    const db = cachingSqlite(open());
    const text = 'SELECT v FROM t ORDER BY id';
    db.prepare(text);
    const kept = db.prepare(text);
    const out: string[] = [];
    for (const row of kept.iterate([]) as IterableIterator<{ v: string }>) {
      const inner = db.prepare(text);
      expect(inner).not.toBe(kept);
      out.push(`${row.v}${(inner.all([]) as Array<{ v: string }>).length}`);
    }
    expect(out).toEqual(['a3', 'b3', 'c3']);
    expect(db.prepare(text)).toBe(kept);
  });

  it('a kept statement is planned again after a schema change: a new index shows in its plan', () => {
    const db = cachingSqlite(open());
    const text = 'EXPLAIN QUERY PLAN SELECT id FROM t WHERE v = ?';
    const plan = (): string => (db.prepare(text).all(['b']) as Array<{ detail: string }>).map((r) => r.detail).join(';');
    expect(plan()).toMatch(/SCAN/);
    expect(plan()).toMatch(/SCAN/);
    expect(db.cached).toBe(1);
    sqlite.exec('CREATE INDEX t_v ON t (v)');
    expect(plan()).toMatch(/USING COVERING INDEX t_v/);
  });

  it('through Kysely: kept statements follow the schema and the rows as they change', async () => {
    const db = new Kysely<{ t: { id: Generated<number>; v: string; w?: string | null } }>({ dialect: new SqliteDialect({ database: cachingSqlite(open()) }) });
    const read = () => sql<Record<string, unknown>>`SELECT * FROM t WHERE id = ${1}`.execute(db).then((r) => r.rows);
    expect(await read()).toEqual([{ id: 1, v: 'a' }]);
    expect(await read()).toEqual([{ id: 1, v: 'a' }]);
    await sql`ALTER TABLE t ADD COLUMN w TEXT`.execute(db);
    await db.updateTable('t').set({ w: 'x' }).where('id', '=', 1).execute();
    await db.updateTable('t').set({ w: 'y' }).where('id', '=', 1).execute();
    expect(await read()).toEqual([{ id: 1, v: 'a', w: 'y' }]);
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('t').values({ v: 'd' }).execute();
      await trx.insertInto('t').values({ v: 'e' }).execute();
    });
    const rows = await db.selectFrom('t').select('v').orderBy('id').execute();
    expect(rows.map((r) => r.v)).toEqual(['a', 'b', 'c', 'd', 'e']);
    await db.destroy();
    expect(sqlite.open).toBe(false);
  });
});

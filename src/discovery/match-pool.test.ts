import SQLite from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHashKeys } from '../config/config.js';
import { openDb, type Db } from '../db/dialect.js';
import { migrateToLatest } from '../db/migrate.js';
import { ContactHasher } from '../directory/hashing.js';
import { MatchPool } from './match-pool.js';
import { createSqliteMatcher } from './sqlite-matcher.js';
import { sqliteDiscoveryStore } from './store.js';

const keys = parseHashKeys(`v1:${Buffer.alloc(32, 9).toString('base64')}`);
const hasher = new ContactHasher(keys);
const number = (i: number) => `+4915${String(100_000_000 + i)}`;
/** A caller whose verified phone is in the books of the "my contacts" owners with i % 10 === 5. */
const friendPhone = hasher.current('phone', '+4915199999999').hash;
const friend = { accountId: 'friend', mirroredAt: 0 };
const stranger = { accountId: 'stranger', mirroredAt: 0 };
// Every third number is registered but not discoverable; of the rest, every fifth is "my contacts".
const state = (i: number) => (i >= 1000 || i % 3 === 0 ? 'none' : i % 5 === 0 ? 'contacts' : 'everyone');
const expected = (viewer: 'friend' | 'stranger') =>
  Array.from({ length: 1500 }, (_, i) => state(i) === 'everyone' || (state(i) === 'contacts' && viewer === 'friend' && i % 10 === 5)).filter(Boolean).length;

describe('match pool', () => {
  let dir: string;
  let db: Db;
  let pool: MatchPool;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'findguard-pool-'));
    const path = join(dir, 'db.sqlite');
    db = openDb({ dialect: 'sqlite', path });
    await migrateToLatest(db.kysely);
    const sqlite = db.sqlite as SQLite.Database;
    const insertAccount = sqlite.prepare(`INSERT INTO accounts (id, handle, created_at, app_status, fg_status, mirrored_at, updated_at) VALUES (?, ?, 0, 'active', 'active', 0, 0)`);
    const insertPoint = sqlite.prepare(
      `INSERT INTO contact_points (id, account_id, kind, key_version, hash, purposes, verified, discoverable, discoverable_by, created_at, updated_at) VALUES (?, ?, 'phone', 1, ?, 4, 1, ?, ?, 0, 0)`,
    );
    const insertReach = sqlite.prepare(`INSERT INTO contact_reach (point_hash, book_hash, created_at, point_id, account_id) VALUES (?, ?, 0, ?, ?)`);
    sqlite.transaction(() => {
      for (let i = 0; i < 1000; i++) {
        insertAccount.run(`a${i}`, `h${i}`);
        const s = state(i);
        const hash = hasher.current('phone', number(i)).hash;
        insertPoint.run(`cp_${i}`, `a${i}`, hash, s === 'none' ? 0 : s === 'everyone' ? 1 : 2, s === 'contacts' ? 'contacts' : 'everyone');
        if (s === 'contacts' && i % 10 === 5) insertReach.run(hash, friendPhone, `cp_${i}`, `a${i}`);
      }
      for (const [id, phone] of [['friend', friendPhone], ['stranger', hasher.current('phone', '+4915199999998').hash], ['suspended', friendPhone]] as const) {
        insertAccount.run(id, `h_${id}`);
        insertPoint.run(`cp_${id}`, id, phone, 0, 'everyone');
      }
      sqlite.prepare(`UPDATE accounts SET fg_status = 'suspended' WHERE id = 'suspended'`).run();
    })();
    pool = new MatchPool(path, keys, 2);
  });
  afterAll(async () => {
    await pool.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const values = Array.from({ length: 1500 }, (_, i) => number(i));

  it('answers exactly what the inline matcher answers, in order, "my contacts" points included', async () => {
    for (const [name, caller] of [['stranger', stranger], ['friend', friend]] as const) {
      const inline = createSqliteMatcher(db.sqlite!, hasher)('phone', values, caller);
      const pooled = await pool.match('phone', values, caller);
      expect(pooled).toEqual(inline);
      expect(pooled.filter(Boolean)).toHaveLength(expected(name));
      expect(pooled[1]).toEqual({ accountId: 'a1', handle: 'h1' });
      expect(pooled[3]).toBeNull();
      expect(pooled[35]).toEqual(name === 'friend' ? { accountId: 'a35', handle: 'h35' } : null);
      expect(pooled[10]).toBeNull();
      expect(pooled[1200]).toBeNull();
    }
    expect(expected('friend')).toBeGreaterThan(expected('stranger'));
  });

  it('refuses, in the workers, a caller suspended, erased or mirrored again, as the inline matcher does; the store does not answer it inline instead', async () => {
    const store = sqliteDiscoveryStore(db, hasher, { pool });
    for (const [caller, code] of [
      [{ accountId: 'suspended', mirroredAt: 0 }, 'account_suspended'],
      [{ accountId: 'nobody', mirroredAt: 0 }, 'unauthenticated'],
      [{ accountId: 'friend', mirroredAt: 1 }, 'unauthenticated'],
    ] as const) {
      await expect(pool.match('phone', values, caller)).rejects.toMatchObject({ code });
      expect(() => createSqliteMatcher(db.sqlite!, hasher)('phone', values, caller)).toThrow(expect.objectContaining({ code }));
      await expect(store.match('phone', values, caller)).rejects.toMatchObject({ code });
    }
  });

  it('replaces a crashed worker, and the store falls back inline meanwhile', async () => {
    const slots = (pool as unknown as { slots: Array<{ worker: Worker }> }).slots;
    const victim = slots[0]!.worker;
    const inflight = pool.match('phone', values, stranger);
    await victim.terminate();
    await inflight.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect((pool as unknown as { slots: Array<{ worker: Worker }> }).slots[0]!.worker).not.toBe(victim);
    const after = await pool.match('phone', values, stranger);
    expect(after.filter(Boolean)).toHaveLength(expected('stranger'));

    const store = sqliteDiscoveryStore(db, hasher, { pool });
    const again = (pool as unknown as { slots: Array<{ worker: Worker }> }).slots[1]!.worker;
    const pending = store.match('phone', values, { accountId: 'a1', mirroredAt: 0 });
    await again.terminate();
    expect((await pending).filter(Boolean)).toHaveLength(expected('stranger'));
  });
});

import SQLite from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHashKeys } from '../config/config.js';
import { openDb, type Db } from '../db/dialect.js';
import { migrateToLatest } from '../db/migrate.js';
import { ContactHasher } from '../directory/hashing.js';
import { SNAPSHOT_MS, sqliteDiscoveryStore, type DiscoveryStore } from './store.js';

const hasher = new ContactHasher(parseHashKeys(`v1:${Buffer.alloc(32, 3).toString('base64')}`));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Account 'a' as inserted below (mirrored at 0). */
const A = { accountId: 'a', mirroredAt: 0 };

describe('SQLite read snapshot', () => {
  let dir: string;
  let db: Db;
  let store: DiscoveryStore;
  let other: SQLite.Database;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'findguard-snapshot-'));
    const path = join(dir, 'db.sqlite');
    db = openDb({ dialect: 'sqlite', path });
    await migrateToLatest(db.kysely);
    store = sqliteDiscoveryStore(db, hasher, { path });
    // Another process's connection, as `findguard import` would have beside a running server.
    other = new SQLite(path);
    other.prepare(`INSERT INTO accounts (id, handle, created_at, app_status, fg_status, mirrored_at, updated_at) VALUES ('a', 'h', 0, 'active', 'active', 0, 0)`).run();
  });
  afterAll(async () => {
    other.close();
    await store.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const add = (value: string, discoverable: number) =>
    other
      .prepare(`INSERT INTO contact_points (id, account_id, kind, key_version, hash, purposes, verified, discoverable, created_at, updated_at) VALUES (?, 'a', 'phone', 1, ?, 4, 1, ?, 0, 0)`)
      .run(`cp_${value}`, hasher.current('phone', value).hash, discoverable);

  it("sees another connection's commit within the snapshot's age, and at once after refresh()", async () => {
    expect(await store.match('phone', ['+4915100000001'], A)).toEqual([null]);
    add('+4915100000001', 1);
    await sleep(SNAPSHOT_MS * 3);
    expect(await store.match('phone', ['+4915100000001'], A)).toEqual([{ accountId: 'a', handle: 'h' }]);

    expect(await store.match('phone', ['+4915100000002'], A)).toEqual([null]);
    add('+4915100000002', 1);
    // Still inside the snapshot the first read opened: the commit is not seen yet.
    expect(await store.match('phone', ['+4915100000002'], A)).toEqual([null]);
    store.refresh();
    expect(await store.match('phone', ['+4915100000002'], A)).toEqual([{ accountId: 'a', handle: 'h' }]);
    expect((await store.caller('a'))?.status).toBe('active');
    expect(await store.caller('nobody')).toBeUndefined();
  });
});

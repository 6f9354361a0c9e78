import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { mirrorAccount, sync } from '../helpers/fixtures.js';
import { HASH_KEYS, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review (directory, erasure): DELETE /internal/v1/accounts/{id} "erases the account and its
 * contact points" (DESIGN §4), and the "my contacts" book "erases it in the transaction that ...
 * erases the account" (README). On the embedded default the rows are DELETEd
 * (src/directory/accounts.ts:112-116, discoverability.ts eraseBook) from a SQLite file opened
 * without `PRAGMA secure_delete` (src/db/dialect.ts:27-34; better-sqlite3 builds it off): SQLite
 * only marks the cells free, so the erased person's keyed hashes (and handle) stay in the file's
 * bytes. The hash key sits in secrets.json in the same data folder: whoever gets a copy or a backup
 * of the folder can still tell which number the erased account had (HMAC each candidate, search
 * the file), which is what erasure is meant to end.
 */
const KEY = Buffer.from(HASH_KEYS.split(':')[1]!, 'base64');
const ERASED_PHONE = '+447400550081';
const BOOK_NUMBER = '+447400550082';
const mac = (kind: string, value: string) => createHmac('sha256', KEY).update(`${kind}:`).update(value).digest();

let svc: TestService;
afterAll(async () => svc?.stop());

it('[sqlite] after erasure, the file no longer holds the erased account\'s keyed hashes', async () => {
  svc = await startTestService('sqlite', { policy: 'none' });
  await mirrorAccount(svc, 'bystander', [{ value: '+447400550083', purposes: ['discovery'] }]);
  await mirrorAccount(svc, 'erased', []);
  const add = await svc.app.inject({
    method: 'POST',
    url: '/internal/v1/accounts/erased/contact-points',
    headers: svc.internal,
    payload: { kind: 'phone', value: ERASED_PHONE, purposes: ['discovery'], verified: true, discoverableBy: 'contacts' },
  });
  expect(add.statusCode).toBe(201);
  expect((await sync(svc, await svc.tokenFor('erased'), { contacts: [BOOK_NUMBER] })).statusCode).toBe(200);
  svc.clock.advance(1000);
  expect((await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/erased', headers: svc.internal })).statusCode).toBe(204);
  // More ordinary traffic after the erasure.
  await mirrorAccount(svc, 'later', [{ value: '+447400550084', purposes: ['discovery'] }]);
  await svc.close();

  // No live row holds them any more: what is left is in freed space.
  const db = new SQLite(join(svc.dataDir, 'findguard.sqlite'), { readonly: true });
  const live = ['contact_points', 'contact_books'].map((t) => db.prepare(`SELECT count(*) AS n FROM ${t} WHERE hash IN (?, ?)`).get(mac('phone', ERASED_PHONE), mac('phone', BOOK_NUMBER)) as { n: number });
  const reach = db.prepare('SELECT count(*) AS n FROM contact_reach WHERE point_hash IN (?, ?) OR book_hash IN (?, ?)').get(mac('phone', ERASED_PHONE), mac('phone', BOOK_NUMBER), mac('phone', ERASED_PHONE), mac('phone', BOOK_NUMBER)) as { n: number };
  db.close();
  expect([...live.map((r) => r.n), reach.n]).toEqual([0, 0, 0]);

  let dump = Buffer.alloc(0);
  for (const f of readdirSync(svc.dataDir).filter((f) => f.startsWith('findguard.'))) dump = Buffer.concat([dump, readFileSync(join(svc.dataDir, f))]);
  const left = {
    point: dump.includes(mac('phone', ERASED_PHONE)),
    book: dump.includes(mac('phone', BOOK_NUMBER)),
  };
  expect(left).toEqual({ point: false, book: false });
});

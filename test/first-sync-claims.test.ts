import { Kysely, SqliteDialect } from 'kysely';
import SQLite from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { FirstSyncClaims } from '../src/abuse/first-sync.js';
import type { Database } from '../src/db/schema.js';
import { createLogger } from '../src/logger.js';
import { importLines, mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, LogCapture, startTestService, type TestService } from './helpers/service.js';

/**
 * The claim behind the answers rule's one unjudged first sync (src/abuse/first-sync.ts): one per
 * account in the database, whatever a node remembers or forgets, kept through the directory's
 * writes (a re-mirror, a re-import), gone with an erased account, and never granted when the
 * database cannot be written.
 */
const WEEK = 7 * 86_400_000;
const silent = createLogger('silent');

describeEachDialect('first-sync claims', (dialect) => {
  let svc: TestService;
  afterEach(async () => {
    await svc?.stop();
  });
  const claims = (max?: number) => new FirstSyncClaims(svc.ctx.db.kysely, silent, max);
  const claim = (c: FirstSyncClaims, id: string) => c.claim(id, svc.clock.now() - 1000, svc.clock.now(), WEEK);

  it('is won once per account: not again on the same node, on another, or after a restart', async () => {
    svc = await startTestService(dialect);
    await mirrorAccount(svc, 'new-one');
    const node = claims();
    expect(await claim(node, 'new-one')).toBe(true);
    expect(await claim(node, 'new-one')).toBe(false);
    // Another node, or this one restarted: an empty memory, the same database.
    expect(await claim(claims(), 'new-one')).toBe(false);
    // Unknown to the directory: nothing to claim, so judged.
    expect(await claim(claims(), 'nobody')).toBe(false);
  });

  it('a node that forgot an account (its memory trimmed) still finds the claim taken', async () => {
    svc = await startTestService(dialect);
    for (const id of ['x', 'y', 'z']) await mirrorAccount(svc, id);
    const node = claims(1);
    expect(await claim(node, 'x')).toBe(true);
    expect(await claim(node, 'y')).toBe(true);
    expect(await claim(node, 'z')).toBe(true);
    expect(await claim(node, 'x')).toBe(false);
  });

  it('survives a re-mirror and a re-import of the account; goes with its erasure', async () => {
    svc = await startTestService(dialect);
    await mirrorAccount(svc, 'kept');
    expect(await claim(claims(), 'kept')).toBe(true);
    await mirrorAccount(svc, 'kept', [], { handle: 'renamed', createdAt: new Date(svc.clock.now()).toISOString() });
    expect((await importLines(svc, [{ accountId: 'kept', handle: 'again', createdAt: new Date(svc.clock.now()).toISOString(), contactPoints: [] }])).json()).toMatchObject({ accounts: 1, failed: 0 });
    expect(await claim(claims(), 'kept')).toBe(false);
    const erased = await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/kept', headers: svc.internal });
    expect(erased.statusCode).toBeLessThan(300);
    const row = await svc.ctx.db.kysely.selectFrom('accounts').select('id').where('id', '=', 'kept').executeTakeFirst();
    expect(row).toBeUndefined();
  });
});

it('a database that cannot be written grants no exemption, and the failure is logged', async () => {
  // A database without the column: every claim fails.
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) });
  const logs = new LogCapture();
  const c = new FirstSyncClaims(db, createLogger('warn', logs));
  expect(await c.claim('acct', 0, 1000, WEEK)).toBe(false);
  expect(logs.text).toContain('could not claim a first sync');
  await db.destroy();
});

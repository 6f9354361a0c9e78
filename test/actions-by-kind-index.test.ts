import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { openDb, type Db } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * Every engine reads the reinstatements recorded since its last look once an evaluation, and every
 * partition stage the actions recorded since its own (abuse/resume.ts, abuse/stages.ts): by kind
 * and time, through enforcement_actions_action_at, not by a scan of every action ever recorded.
 */
let dir: string | undefined;
let db: Db | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

it('SQLite plans the reads of recent actions by kind through the index', async () => {
  dir = mkdtempSync(join(tmpdir(), 'findguard-actions-'));
  db = openDb({ dialect: 'sqlite', path: join(dir, 'findguard.sqlite') });
  expect((await migrateToLatest(db.kysely)).error).toBeUndefined();
  const plan = (query: { sql: string; parameters: readonly unknown[] }): string =>
    (db!.sqlite!.prepare(`EXPLAIN QUERY PLAN ${query.sql}`).all(...query.parameters) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
  const reinstatements = db.kysely.selectFrom('enforcement_actions').select(['id', 'account_id', 'at']).where('action', '=', 'reinstate').where('at', '>', 0).orderBy('at').compile();
  expect(plan(reinstatements)).toMatch(/USING INDEX enforcement_actions_action_at \(action=\? AND at>\?\)/);
  const actions = db.kysely
    .selectFrom('enforcement_actions')
    .select(['account_id', 'action'])
    .where('reversed_by', 'is', null)
    .where('action', 'in', ['throttle', 'challenge', 'suspend'])
    .where('at', '>=', 0)
    .compile();
  expect(plan(actions)).toMatch(/USING INDEX enforcement_actions_action_at \(action=\? AND at>\?\)/);
});

describeEachDialect('enforcement_actions by kind and time', (dialect) => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });
  it('the index is there after the migrations', async () => {
    svc = await startTestService(dialect);
    const names =
      dialect === 'sqlite'
        ? (svc.ctx.db.sqlite!.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'enforcement_actions'`).all() as Array<{ name: string }>).map((r) => r.name)
        : (await svc.ctx.db.pool!.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'enforcement_actions' AND schemaname = current_schema()`)).rows.map((r) => r.indexname);
    expect(names).toContain('enforcement_actions_action_at');
  });
});

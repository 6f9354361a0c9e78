import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import type { AbuseEngine } from '../src/abuse/engine.js';
import { syncReinstatements } from '../src/abuse/resume.js';
import type { Db } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { openSuspensions } from '../src/directory/accounts.js';
import { actionsFor, activeRestrictions } from '../src/incidents/enforcement-reads.js';
import { reinstatedInForce } from '../src/incidents/exposure-rule.js';
import { suspendedIn, suspensionCausesIn } from '../src/simulate/driver.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';
import { sqliteFolderPerTest } from './helpers/sqlite-folder.js';

/**
 * enforcement_actions grows by an action per decision, forever. Two kinds of read must not scan it:
 * - one account's actions (a sign-up's open suspensions, what is in force against a caller, the
 *   reinstatements of a campaign's members): through (account_id, at), never through an index by
 *   kind, which holds every action of that kind ever recorded. An index on (action, at) was chosen
 *   by SQLite's planner for `account_id IN (?) AND action = ?` (no statistics: the two equalities
 *   tie), and every account mirrored read every suspension ever made: 0.7% of the simulator's
 *   main thread at a million accounts, and the same on every PUT in production;
 * - the actions recorded since a last look (abuse/stages.ts): by time; the reinstatements of the
 *   grace period (abuse/resume.ts, 30 days of actions) through a partial index that holds only them.
 */
const folder = sqliteFolderPerTest('findguard-actions-');

async function migrated(): Promise<Db> {
  const db = await folder().open();
  expect((await migrateToLatest(db.kysely)).error).toBeUndefined();
  return db;
}

function planOf(d: Db, text: string, parameters: readonly unknown[]): string {
  return (d.sqlite!.prepare(`EXPLAIN QUERY PLAN ${text}`).all(...parameters) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
}

it("SQLite reads one account's actions through the account index, whatever kinds they filter", async () => {
  const d = await migrated();
  const sqlite = d.sqlite!;
  const texts = new Set<string>();
  const prepare = sqlite.prepare.bind(sqlite);
  // Every statement Kysely prepares goes through the raw handle (db/statement-cache.ts).
  sqlite.prepare = ((text: string) => {
    if (text.includes('"enforcement_actions"') && !text.startsWith('EXPLAIN')) texts.add(text);
    return prepare(text);
  }) as typeof sqlite.prepare;
  await openSuspensions(d.kysely, ['a1']);
  await openSuspensions(d.kysely, ['a1', 'a2', 'a3']);
  await activeRestrictions(d.kysely, 'a1', 0);
  await actionsFor(d.kysely, 'a1');
  await reinstatedInForce(d.kysely, ['a1', 'a2']);
  await suspensionCausesIn(d.kysely, ['a1']);
  await suspendedIn(d.kysely, ['a1']);
  sqlite.prepare = prepare;
  expect(texts.size).toBeGreaterThanOrEqual(6);
  for (const text of texts) {
    const params = [...text.matchAll(/\?/g)].map(() => 'a1');
    expect(planOf(d, text, params), text).toMatch(/USING INDEX enforcement_actions_account_at \(account_id=\?/);
  }
});

it('SQLite plans the reads of recent actions by time, the reinstatements through an index of their own', async () => {
  const d = await migrated();
  const plan = (query: { sql: string; parameters: readonly unknown[] }): string => planOf(d, query.sql, query.parameters);
  // The engine's read, as it runs: a scan of every action of the grace period through the index by
  // time was 1.8 ms an evaluation at 20,000 accounts, and grows with every suspension.
  const sqlite = d.sqlite!;
  const texts: string[] = [];
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((text: string) => {
    if (text.includes('"enforcement_actions"')) texts.push(text);
    return prepare(text);
  }) as typeof sqlite.prepare;
  await syncReinstatements(d.kysely, { reinstate: () => undefined } as unknown as AbuseEngine, 0);
  sqlite.prepare = prepare;
  expect(texts).toHaveLength(1);
  expect(planOf(d, texts[0]!, [...texts[0]!.matchAll(/\?/g)].map(() => 0))).toMatch(/USING INDEX enforcement_actions_reinstate_at \(at>\?\)/);
  const actions = d.kysely
    .selectFrom('enforcement_actions')
    .select(['account_id', 'action'])
    .where('reversed_by', 'is', null)
    .where('action', 'in', ['throttle', 'challenge', 'suspend'])
    .where('at', '>=', 0)
    .compile();
  expect(plan(actions)).toMatch(/USING INDEX enforcement_actions_at \(at>\?\)/);
});

describeEachDialect('enforcement_actions indexes', (dialect) => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });
  it('by account and by time after the migrations, and none by kind', async () => {
    svc = await startTestService(dialect);
    const names =
      dialect === 'sqlite'
        ? (svc.ctx.db.sqlite!.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'enforcement_actions'`).all() as Array<{ name: string }>).map((r) => r.name)
        : (await svc.ctx.db.pool!.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'enforcement_actions' AND schemaname = current_schema()`)).rows.map((r) => r.indexname);
    expect(names).toEqual(expect.arrayContaining(['enforcement_actions_account_at', 'enforcement_actions_at', 'enforcement_actions_reinstate_at']));
    expect(names).not.toContain('enforcement_actions_action_at');
    if (dialect === 'postgres') {
      // The engine's read of the reinstatements can use their partial index on PostgreSQL too (the
      // planner prefers a scan of an empty table, so scans are priced out for the question).
      const { sql: text, parameters } = svc.ctx.db.kysely
        .selectFrom('enforcement_actions')
        .select(['id', 'account_id', 'at'])
        .where('action', '=', sql.lit('reinstate'))
        .where('at', '>', 0)
        .orderBy('at')
        .compile();
      const client = await svc.ctx.db.pool!.connect();
      try {
        await client.query('SET enable_seqscan = off');
        const plan = (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, [...parameters])).rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan).toContain('enforcement_actions_reinstate_at');
      } finally {
        await client.query('RESET enable_seqscan');
        client.release();
      }
    }
  });
});

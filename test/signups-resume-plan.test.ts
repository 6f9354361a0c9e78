import { expect, it } from 'vitest';
import type { AbuseEngine } from '../src/abuse/engine.js';
import { resumeEngine } from '../src/abuse/resume.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { sqliteFolderPerTest } from './helpers/sqlite-folder.js';

/**
 * A rebuilt engine reads the sign-ups of the last 7 days back from the accounts table
 * (test/review/signups-forgotten-on-resume): through the partial index of the accounts mirrored
 * with a sign-up context, never a scan of every account ever mirrored (an import of a platform's
 * history is most of the table, and a rebuild reads it in pages).
 */
const folder = sqliteFolderPerTest('findguard-signups-plan-');

it('SQLite reads the stored sign-ups of a rebuild through accounts_signup_created', async () => {
  const d = await folder().open();
  expect((await migrateToLatest(d.kysely)).error).toBeUndefined();
  const sqlite = d.sqlite!;
  const texts: string[] = [];
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((text: string) => {
    if (text.includes('from "accounts"')) texts.push(text);
    return prepare(text);
  }) as typeof sqlite.prepare;
  // Only what resumeEngine reads of an engine: its policy's windows and where replays go.
  const engine = {
    policy: { actions: { reinstateGraceMs: 1 }, features: { dayWindowMs: 86_400_000 }, farming: { retainMs: 7 * 86_400_000 } },
    reinstate: () => undefined,
    restore: () => undefined,
    signup: () => undefined,
  } as unknown as AbuseEngine;
  const report = await resumeEngine(d.kysely, engine, Date.parse('2026-12-04T00:00:00Z'), { observe: () => undefined, signupOf: () => undefined });
  sqlite.prepare = prepare;
  expect(report.signups).toBe(0);
  expect(texts).toHaveLength(1);
  const params = [...texts[0]!.matchAll(/\?/g)].map(() => 0);
  const plan = (sqlite.prepare(`EXPLAIN QUERY PLAN ${texts[0]!}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
  expect(plan).toMatch(/USING (COVERING )?INDEX accounts_signup_created/);
  expect(plan).not.toMatch(/USE TEMP B-TREE/);
});

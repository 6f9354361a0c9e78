import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createProgram } from '../../src/cli/program.js';
import { startCliHarness, type CliHarness } from '../helpers/cli.js';
import { describeEachDialect } from '../helpers/service.js';

afterEach(() => {
  process.exitCode = undefined;
});

/**
 * Review: a new operator may no longer be named by an email address (isNewOperatorName,
 * test/review/operator-name-email), but `findguard accounts reinstate ID --reason R --operator NAME`
 * checks NAME with isOperatorName (src/cli/accounts.ts operatorArg), which admits '@' for legacy
 * operators' sake, and NAME need not be any operator's: typed as the colleague's address, it is
 * written to enforcement_actions.actor, to the decisions it lifts, to the append-only audit trail,
 * and sent to the app in the account.reinstated webhook. No raw email address is to be stored.
 */
const EMAIL = 'jane.doe@example.org';

describeEachDialect('review: CLI reinstate by an operator named by an email address', (dialect) => {
  let h: CliHarness;
  beforeAll(async () => {
    h = await startCliHarness(dialect, 'review-reinstate-email');
    await h.withCtx(async (ctx) => {
      await ctx.directory.putAccount('atk-1', { handle: 'atk1' });
      await ctx.incidents.enforcer.suspend(['atk-1'], { actor: 'engine', reason: 'enumeration', evidence: {} });
    });
  }, 60_000);
  afterAll(async () => h?.close());

  it('is refused with a clear CLI error, or stores no address', async () => {
    let refused = false;
    try {
      await h.run('accounts', 'reinstate', 'atk-1', '--reason', 'false positive', '--operator', EMAIL);
    } catch (err) {
      // commander's InvalidArgumentError: a clear CLI error, nothing written.
      refused = (err as { code?: string }).code === 'commander.invalidArgument';
      if (!refused) throw err;
    }
    const stored = await h.withCtx(async (ctx) => {
      const db = ctx.db.kysely;
      const dump = async (table: string) => JSON.stringify((await sql`select * from ${sql.table(table)}`.execute(db)).rows);
      return { actions: await dump('enforcement_actions'), audit: await dump('audit_log'), outbox: await dump('webhook_outbox'), decisions: await dump('decisions') };
    });
    const holding = Object.entries(stored).filter(([, text]) => text.includes('@example.org')).map(([table]) => table);
    expect(holding, `refused: ${refused}`).toEqual([]);
    expect(refused).toBe(true);
  });

  it('keeps only the part of a login name before its @ when no --operator is given', async () => {
    const io = h.testIo({ USER: 'jane.doe@corp.example.org' });
    await createProgram(io).parseAsync(['accounts', 'reinstate', 'atk-1', '--reason', 'false positive'], { from: 'user' });
    expect(io.lines.join('\n')).toContain('reinstated atk-1 by jane.doe');
    const stored = await h.withCtx(async (ctx) => JSON.stringify((await sql`select * from audit_log`.execute(ctx.db.kysely)).rows) + JSON.stringify((await sql`select * from enforcement_actions`.execute(ctx.db.kysely)).rows));
    expect(stored).not.toContain('corp.example.org');
    expect(stored).toContain('jane.doe');
  });
});

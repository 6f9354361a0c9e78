import { CommanderError } from 'commander';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createProgram } from '../src/cli/program.js';
import { startCliHarness } from './helpers/cli.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from './helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * A new operator's name is never an email address (incidents/common.ts isNewOperatorName): the API
 * answers 400 invalid_request saying so, `findguard operators add` exits non-zero. An operator added
 * under such a name before the rule keeps it: they still sign in, and the CLI still finds them.
 */
const LEGACY = 'old.admin@example.org';

describeEachDialect('a new operator named by an email address', (dialect) => {
  let svc: TestService;
  let admin: SignedIn;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' }, OPERATOR_OVERRIDES);
    admin = await signIn(svc, await addOperator(svc, 'name-admin', 'admin'));
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('the API refuses it with a message that says why', async () => {
    const res = await svc.app.inject({ method: 'POST', url: '/admin/v1/operators', headers: admin.headers, payload: { name: 'jane@example.org', role: 'viewer' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/not an email address/) });
    const ok = await svc.app.inject({ method: 'POST', url: '/admin/v1/operators', headers: admin.headers, payload: { name: 'jane.doe', role: 'viewer' } });
    expect(ok.statusCode, ok.body).toBeLessThan(300);
  });

  it('an operator whose name already holds an @ still signs in', async () => {
    const op = await addOperator(svc, 'legacy-op', 'viewer');
    await svc.ctx.db.kysely.updateTable('operators').set({ name: LEGACY }).where('id', '=', op.id).execute();
    const session = await signIn(svc, { ...op, name: LEGACY });
    const me = await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: session.cookie } });
    expect(me.statusCode, me.body).toBe(200);
  });
});

describeEachDialect('`findguard operators add` with an email address', (dialect) => {
  it('exits non-zero and adds nobody; an existing name with an @ can still be disabled', async () => {
    const h = await startCliHarness(dialect, 'op-name');
    try {
      const io = h.testIo();
      const err = await createProgram(io)
        .parseAsync(['operators', 'add', 'jane@example.org', '--role', 'viewer'], { from: 'user' })
        .then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(CommanderError);
      expect((err as CommanderError).exitCode).not.toBe(0);
      expect(io.errors.join('\n')).toMatch(/not an email address/);
      await h.withCtx(async (ctx) => {
        expect(await ctx.operators.list()).toEqual([]);
        const made = await ctx.operators.add('cli', 'legacy', 'viewer');
        await ctx.db.kysely.updateTable('operators').set({ name: LEGACY }).where('id', '=', made.operator.id).execute();
      });
      process.exitCode = undefined;
      const disabled = await h.run('operators', 'disable', LEGACY);
      expect(process.exitCode ?? 0).toBe(0);
      expect(disabled.errors).toEqual([]);
      await h.withCtx(async (ctx) => expect((await ctx.operators.byName(LEGACY))?.status).toBe('disabled'));
    } finally {
      process.exitCode = undefined;
      await h.close();
    }
  }, 60_000);
});

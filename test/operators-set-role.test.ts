import { afterAll, beforeAll, expect, it } from 'vitest';
import { createProgram } from '../src/cli/program.js';
import { listAudit } from '../src/incidents/index.js';
import { startCliHarness } from './helpers/cli.js';
import { addOperator, OPERATOR_OVERRIDES, signIn } from './helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * Changing an operator's role (POST /admin/v1/operators/{id}/role, `findguard operators set-role`):
 * nobody manages a role above theirs, nobody changes their own, a demotion ends the operator's
 * sessions at once, an OIDC operator's role stays with their groups, every change is audited.
 * The role x endpoint matrix is in operators-roles.test.ts.
 */
describeEachDialect('setting an operator role', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
  });
  afterAll(async () => svc?.stop());

  const setRole = (headers: Record<string, string>, id: string, body: object) => svc.app.inject({ method: 'POST', url: `/admin/v1/operators/${id}/role`, headers, payload: body });

  it('an admin promotes and demotes; a demotion ends the sessions, a promotion keeps them; both audited', async () => {
    const admin = await signIn(svc, await addOperator(svc, 'boss', 'admin'));
    const carol = await addOperator(svc, 'carol', 'viewer');
    const carolSession = await signIn(svc, carol);

    const up = await setRole(admin.headers, carol.id, { role: 'admin', reason: 'on call' });
    expect(up.statusCode, up.body).toBe(200);
    expect(up.json()).toMatchObject({ operator: { id: carol.id, role: 'admin' }, sessionsEnded: 0 });
    // Still signed in, now with the admin's rights.
    expect((await svc.app.inject({ method: 'GET', url: '/admin/v1/operators', headers: { cookie: carolSession.cookie } })).statusCode).toBe(200);

    const down = await setRole(admin.headers, carol.id, { role: 'analyst', reason: 'rotation over' });
    expect(down.json()).toMatchObject({ operator: { role: 'analyst' }, sessionsEnded: 1 });
    expect((await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: carolSession.cookie } })).statusCode).toBe(401);
    // Signing in again gives the new role.
    const again = await signIn(svc, carol);
    expect((await svc.app.inject({ method: 'GET', url: '/admin/v1/operators', headers: { cookie: again.cookie } })).json().error.code).toBe('forbidden_role');

    const entries = await listAudit(svc.ctx.db.kysely, { subject: `operator:${carol.id}`, action: 'operator.set-role', limit: 10 });
    expect(entries.map((e) => [e.before, e.after, e.reason, e.actor.name, e.tool])).toEqual([
      [{ role: 'admin' }, { role: 'analyst' }, 'rotation over', 'boss', 'console'],
      [{ role: 'viewer' }, { role: 'admin' }, 'on call', 'boss', 'console'],
    ]);
  });

  it('nobody manages a role above theirs: an analyst changes no one, nobody changes their own role, no role beyond admin', async () => {
    const analystOp = await addOperator(svc, 'ana', 'analyst');
    const analyst = await signIn(svc, analystOp);
    const viewer = await addOperator(svc, 'vic', 'viewer');
    // An analyst may not raise a viewer, nor raise themselves.
    for (const [id, role] of [[viewer.id, 'analyst'], [analystOp.id, 'admin'], [analystOp.id, 'analyst']] as const) {
      const res = await setRole(analyst.headers, id, { role });
      expect([res.statusCode, res.json().error.code], `${id} ${role}`).toEqual([403, 'forbidden_role']);
    }
    const adminOp = await addOperator(svc, 'root-ish', 'admin');
    const admin = await signIn(svc, adminOp);
    const self = await setRole(admin.headers, adminOp.id, { role: 'viewer' });
    expect([self.statusCode, self.json().error.code]).toEqual([409, 'conflict']);
    for (const role of ['owner', 'superadmin', '']) {
      const res = await setRole(admin.headers, viewer.id, { role });
      expect([res.statusCode, res.json().error.code], role).toEqual([400, 'invalid_request']);
    }
    expect((await setRole(admin.headers, viewer.id, { role: 'admin', extra: 1 })).statusCode).toBe(400);
    expect((await setRole(admin.headers, 'op_nobody', { role: 'admin' })).statusCode).toBe(404);
    expect((await svc.ctx.operators.byId(viewer.id))!.role).toBe('viewer');
    expect((await svc.ctx.operators.byId(analystOp.id))!.role).toBe('analyst');
  });

  it("an OIDC operator's role follows their groups: refused here", async () => {
    const now = svc.clock.now();
    await svc.ctx.db.kysely.insertInto('operators').values({ id: 'op_oidc_1', name: 'olga', role: 'viewer', status: 'active', password_hash: null, totp_secret: null, totp_last_step: 0, oidc_subject: 'sub-olga', created_at: now, updated_at: now }).execute();
    const admin = await signIn(svc, await addOperator(svc, 'boss2', 'admin'));
    const res = await setRole(admin.headers, 'op_oidc_1', { role: 'admin' });
    expect([res.statusCode, res.json().error.code]).toEqual([409, 'conflict']);
  });

  it('findguard operators set-role NAME ROLE, audited as the CLI', async () => {
    const h = await startCliHarness(dialect, 'set-role');
    const run = async (args: string[]) => {
      const io = h.testIo();
      process.exitCode = undefined;
      await createProgram(io).parseAsync(args, { from: 'user' });
      return { out: io.lines, err: io.errors, code: process.exitCode ?? 0 };
    };
    try {
      await run(['operators', 'add', 'dora', '--role', 'viewer']);
      expect((await run(['operators', 'set-role', 'dora', 'admin', '--reason', 'lead'])).out).toEqual(['operator dora: viewer -> admin']);
      expect((await run(['operators', 'set-role', 'dora', 'admin'])).out).toEqual(['operator dora is already admin']);
      expect((await run(['operators', 'list'])).out.join('\n')).toMatch(/dora +admin +active/);
      await expect(run(['operators', 'set-role', 'dora', 'root'])).rejects.toThrow(/viewer, analyst or admin/);
      expect((await run(['operators', 'set-role', 'nobody', 'viewer'])).code).toBe(1);
      const audit = (await run(['audit', 'list', '--json'])).out.map((l) => JSON.parse(l));
      expect(audit[0]).toMatchObject({ action: 'operator.set-role', actor: { via: 'cli' }, tool: 'cli', reason: 'lead', before: { role: 'viewer' }, after: { role: 'admin' } });
    } finally {
      process.exitCode = undefined;
      await h.close();
    }
  });
});

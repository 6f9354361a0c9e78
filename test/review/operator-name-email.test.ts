import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from '../helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: OIDC operator names are cut at their '@' so no address is kept (operators/oidc.ts
 * nameFrom, test/review/oidc-email-as-operator-name), but a local operator's name is taken whole:
 * isOperatorName (incidents/common.ts) admits '@', so `POST /admin/v1/operators` (and `findguard
 * operators add`) with the colleague's email address as name, the obvious choice, stores the
 * address in `operators` and in the append-only audit trail (operator.add's after.name, then the
 * actor of everything they do), against the rule that no raw email is stored.
 */
const EMAIL = 'jane.doe@example.org';

describeEachDialect('review: a local operator named by an email address', (dialect) => {
  let svc: TestService;
  let admin: SignedIn;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' }, OPERATOR_OVERRIDES);
    admin = await signIn(svc, await addOperator(svc, 'op-admin', 'admin'));
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('is refused with a coded 4xx, or stored without the address', async () => {
    const res = await svc.app.inject({ method: 'POST', url: '/admin/v1/operators', headers: admin.headers, payload: { name: EMAIL, role: 'viewer' } });
    expect(res.statusCode, res.body).toBeLessThan(500);
    if (res.statusCode >= 400) expect(res.json().error.code).toBe('invalid_request');
    const operators = JSON.stringify((await sql`select * from operators`.execute(svc.ctx.db.kysely)).rows);
    const audit = JSON.stringify((await sql`select * from audit_log`.execute(svc.ctx.db.kysely)).rows);
    expect(operators).not.toContain('@example.org');
    expect(audit).not.toContain('@example.org');
    expect(svc.logs.text).not.toContain('@example.org');
  });
});

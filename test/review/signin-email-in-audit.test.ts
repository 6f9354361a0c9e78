import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addOperator, OPERATOR_OVERRIDES } from '../helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: a failed sign-in with an unknown name is audited under the name as typed
 * (OperatorService.signIn: `key = isOperatorName(name) ? name : '?'`, and operator names admit
 * '@' and '.'), so an email address typed into the console's name field, the commonest slip on
 * any sign-in form, is written verbatim into audit_log (actor.name and subject
 * `operator-name:<email>`) and signin_throttle. The audit log is append-only: the database refuses
 * UPDATE and DELETE on it, so the address can never be removed (rules: no raw emails in stored data).
 */
const EMAIL = 'jane.doe@example.org';

describeEachDialect('review: an email typed as the sign-in name is not stored', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' }, OPERATOR_OVERRIDES);
    await addOperator(svc, 'jane', 'analyst');
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('the audit trail and the throttle keep no email address', async () => {
    const res = await svc.app.inject({ method: 'POST', url: '/admin/v1/session', remoteAddress: '203.0.113.9', payload: { name: EMAIL, password: 'pw-jane-correct-horse', totp: '123456' } });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('invalid_credentials');

    const auditText = JSON.stringify((await sql`select * from audit_log`.execute(svc.ctx.db.kysely)).rows);
    const throttle = JSON.stringify((await sql`select * from signin_throttle`.execute(svc.ctx.db.kysely)).rows);
    expect(auditText).not.toContain(EMAIL);
    expect(throttle).not.toContain(EMAIL);
  });
});

import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from '../helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: an operator's decision on a device (POST /admin/v1/decisions, /decisions/bulk) took any
 * subject of 1 to 128 characters (console/subjects.ts canonicalSubject). A phone number or an email
 * address pasted there (the number of the person a support ticket is about, say) was stored in
 * `decisions`, in the hash-chained audit trail the database refuses to update or delete, and shown
 * to every viewer on the Decisions and Audit pages: against "findguard never stores a raw phone
 * number or email", which X-Device-Id and a sign-up's deviceId already enforce (directory/
 * contact-like.ts). It also did nothing: no call can carry such a device id (the header refuses
 * one), so the decision could never match a call. It must be a coded 400 that stores nothing.
 */
const PHONE = '+14155550188';
const EMAIL = 'ticket.person@example.org';

describeEachDialect('review: a device decision whose subject is a phone number or an email address', (dialect) => {
  let svc: TestService;
  let analyst: SignedIn;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
    analyst = await signIn(svc, await addOperator(svc, 'devdec-analyst', 'analyst'));
  });
  afterAll(async () => svc?.stop());

  const stored = async (): Promise<string> => {
    const decisions = (await sql`select * from decisions`.execute(svc.ctx.db.kysely)).rows;
    const audit = (await sql`select * from audit_log`.execute(svc.ctx.db.kysely)).rows;
    return JSON.stringify([decisions, audit]);
  };

  it('is refused with a coded 400 naming no value, one at a time and in bulk, and nothing is stored', async () => {
    for (const subject of [PHONE, EMAIL, `ios-${PHONE}`, '0044 7911 123456']) {
      const one = await svc.app.inject({
        method: 'POST',
        url: '/admin/v1/decisions',
        headers: analyst.headers,
        payload: { scope: 'device', subject, action: 'throttle', reason: 'support ticket', durationSeconds: 3600 },
      });
      expect(one.statusCode, `${subject}: ${one.body}`).toBe(400);
      expect(one.json().error.code).toBe('invalid_request');
      expect(one.body).not.toContain(subject);

      const bulk = await svc.app.inject({
        method: 'POST',
        url: '/admin/v1/decisions/bulk',
        headers: analyst.headers,
        payload: { reason: 'support ticket', items: [{ scope: 'device', subject: 'farm-dev-1', action: 'throttle' }, { scope: 'device', subject, action: 'challenge' }] },
      });
      expect(bulk.statusCode, `${subject}: ${bulk.body}`).toBe(400);
      expect(bulk.json().error.code).toBe('invalid_request');
      expect(bulk.body).not.toContain(subject);
    }
    const text = await stored();
    expect(text).not.toContain(PHONE.slice(2));
    expect(text).not.toContain(EMAIL);
    expect(text).not.toContain('7911 123456');
    // The bulk's good item went nowhere either: a refused batch writes nothing.
    expect(text).not.toContain('farm-dev-1');
  });

  it('an opaque device id is still taken', async () => {
    const res = await svc.app.inject({
      method: 'POST',
      url: '/admin/v1/decisions',
      headers: analyst.headers,
      payload: { scope: 'device', subject: 'ios-3f2a9c7e', action: 'throttle', reason: 'farm', durationSeconds: 3600 },
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ scope: 'device', subject: 'ios-3f2a9c7e' });
  });
});

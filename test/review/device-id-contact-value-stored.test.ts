import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { lookup, mirrorAccount, NUMBERS } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: X-Device-Id is checked only for printable ASCII (http/public/caller.ts DeviceHeaders,
 * `^[\x21-\x7e]+$`), so a client that sends the user's phone number or email address as its device
 * id (an app that identifies the installation by the number it registered, a hostile client) has
 * it stored verbatim in lookup_events.device_id, and from there in campaign graphs and device
 * decisions, against the rule that findguard never stores a raw phone number or email.
 * (test/review/error-paths-logs sends a number and an address in this header, but with a space,
 * which the pattern refuses; without one they are taken.)
 */
const PHONE = '+14155550188';
const EMAIL = 'device.owner@example.org';

describeEachDialect('review: a device id that is a phone number or an email address', (dialect) => {
  let svc: TestService;
  let token: string;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'dev-caller', [{ value: NUMBERS.frA, purposes: ['two_factor'] }]);
    token = await svc.tokenFor('dev-caller');
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('is refused with a coded 400, or never stored', async () => {
    for (const device of [PHONE, EMAIL]) {
      const res = await lookup(svc, token, { phone: NUMBERS.usB }, { 'x-device-id': device });
      expect(res.statusCode, res.body).toBeLessThan(500);
      if (res.statusCode >= 400) expect(res.json().error.code).toBe('invalid_request');
      svc.clock.advance(1000);
    }
    await svc.ctx.events.flush();
    const events = JSON.stringify((await sql`select * from lookup_events`.execute(svc.ctx.db.kysely)).rows);
    expect(events).not.toContain(PHONE.slice(2));
    expect(events).not.toContain(EMAIL);
    expect(svc.logs.text).not.toContain(PHONE.slice(2));
    expect(svc.logs.text).not.toContain(EMAIL);
  });
});

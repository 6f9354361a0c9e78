import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLines, lookup, mirrorAccount } from '../helpers/fixtures.js';
import { startTestService, type TestService } from '../helpers/service.js';

/**
 * Review ("raw phone numbers/emails are never logged, stored, or returned unless the caller sent
 * them"): an account id was checked only against `^[A-Za-z0-9._:@-]{1,128}$`
 * (src/directory/account-id.ts), which takes an email address whole. An app whose account ids are
 * its users' addresses (a common choice, and an IdP's `sub` often is one) had each address stored
 * verbatim in accounts.id, lookup_events (account_id, revealed), log lines (`account`), and
 * handed to every stranger who found the account by its phone number: the caller sent a number and
 * got back the owner's email address, a second contact value the owner never made findable.
 * The sign-up's device id, sent in the same PUT, was already refused for holding one; the account
 * id in that request's path was not. Now refused at every edge that names an account.
 */
const EMAIL_ID = 'alice.liddell@example.org';
const PHONE_ID = '004915120050009';
const PHONE = '+4915120050001';

describe('review: an account id that is an email address or a phone number', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('sqlite', { policy: 'none' });
    await mirrorAccount(svc, 'stranger', [{ value: '+4915119990011', purposes: ['two_factor'] }], { phoneRegion: 'DE' });
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('is refused by the internal API with a machine-readable reason, and nothing is kept', async () => {
    for (const id of [EMAIL_ID, PHONE_ID, 'user:bob@mail.example.com']) {
      const put = await svc.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${encodeURIComponent(id)}`, headers: svc.internal, payload: { handle: 'alice' } });
      expect(put.statusCode, put.body).toBe(400);
      expect(put.json().error.code).toBe('invalid_request');
      expect(put.json().error.details[0].reason).toBe('account_id_contact_value');
      expect(put.body).not.toContain(id);
    }
    // Opaque ids with the same characters are still accounts (an '@' alone is no address).
    for (const id of ['u@1', 'team@home', '1234567890', 'acct:9f2c']) {
      const put = await svc.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${encodeURIComponent(id)}`, headers: svc.internal, payload: { handle: 'h' } });
      expect(put.statusCode, `${id}: ${put.body}`).toBe(201);
    }
    const accounts = JSON.stringify((await sql`select id from accounts`.execute(svc.ctx.db.kysely)).rows);
    expect(accounts).not.toContain(EMAIL_ID);
    expect(accounts).not.toContain(PHONE_ID);
  });

  it('is refused in an import line, and the other lines are written', async () => {
    const res = await importLines(svc, [
      { accountId: EMAIL_ID, handle: 'alice', contactPoints: [{ kind: 'phone', value: PHONE, purposes: ['discovery'], verified: true }] },
      { accountId: 'opaque-7', handle: 'bob' },
    ]);
    expect(res.statusCode, res.body).toBeLessThan(300);
    expect(res.body).not.toContain(EMAIL_ID);
    const accounts = JSON.stringify((await sql`select id from accounts`.execute(svc.ctx.db.kysely)).rows);
    expect(accounts).not.toContain(EMAIL_ID);
    expect(accounts).toContain('opaque-7');
  });

  it('is refused as a token subject, so no lookup event names a caller by its address', async () => {
    const res = await lookup(svc, await svc.tokenFor(EMAIL_ID), { phone: PHONE });
    expect(res.statusCode, res.body).toBe(401);
    expect(res.body).not.toContain(EMAIL_ID);
    await svc.ctx.events.flush();
    const events = JSON.stringify((await sql`select * from lookup_events`.execute(svc.ctx.db.kysely)).rows);
    expect(events).not.toContain(EMAIL_ID);
  });
});

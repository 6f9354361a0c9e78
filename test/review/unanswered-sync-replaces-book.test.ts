import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { EVENTS_SCHEMA } from '../../src/db/dialect.js';
import { lookup, mirrorAccount, sync } from '../helpers/fixtures.js';
import { pollUntil } from '../helpers/processes.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: README says a "my contacts" owner is matched against "the numbers of the owner's latest
 * answered phone sync". The gate writes the book (rememberBook) before the sync's event is made
 * durable (recordAllowed); when that fails the sync is answered 503 (nothing answered), yet its
 * numbers are already the owner's book. A caller the latest answered sync did not hold finds the owner.
 */
const OWNER = '+4915112370001';
const FRIEND = '+4915112370002';
const OTHER = '+4915112370005';

describeEachDialect('an unanswered (503) sync does not become the owner\'s book', (dialect) => {
  let svc: TestService;
  afterEach(async () => svc?.stop());

  it('the book stays the latest answered sync', async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'owner');
    const res = await svc.app.inject({ method: 'POST', url: '/internal/v1/accounts/owner/contact-points', headers: svc.internal, payload: { kind: 'phone', value: OWNER, purposes: ['discovery'], verified: true, discoverableBy: 'contacts' } });
    expect(res.statusCode).toBe(201);
    await mirrorAccount(svc, 'friend', [{ value: FRIEND, purposes: ['two_factor'] }]);
    const owner = await svc.tokenFor('owner');
    const friend = await svc.tokenFor('friend');
    expect((await sync(svc, owner, { contacts: [OTHER] })).statusCode).toBe(200);
    expect((await lookup(svc, friend, { phone: OWNER })).json()).toEqual({ match: null });

    const db = svc.ctx.db.kysely;
    if (dialect === 'sqlite') await sql.raw(`CREATE TRIGGER ${EVENTS_SCHEMA}.fg_t BEFORE INSERT ON lookup_events BEGIN SELECT RAISE(ABORT, 'down'); END`).execute(db);
    else {
      await sql.raw(`CREATE FUNCTION fg_t() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'down'; END $$`).execute(db);
      await sql.raw('CREATE TRIGGER fg_t BEFORE INSERT ON lookup_events FOR EACH STATEMENT EXECUTE FUNCTION fg_t()').execute(db);
    }
    svc.clock.advance(1000);
    const unanswered = await sync(svc, owner, { contacts: [FRIEND] });
    expect(unanswered.statusCode).toBe(503);
    if (dialect === 'sqlite') await sql.raw(`DROP TRIGGER ${EVENTS_SCHEMA}.fg_t`).execute(db);
    else await sql.raw('DROP TRIGGER fg_t ON lookup_events').execute(db);

    const found = await pollUntil('the store answers again', async () => {
      svc.clock.advance(1000);
      const r = await lookup(svc, friend, { phone: OWNER });
      return r.statusCode === 200 ? r.json() : undefined;
    }, 5000, 50);
    // The owner's latest answered sync held only OTHER.
    expect(found).toEqual({ match: null });
  });
});

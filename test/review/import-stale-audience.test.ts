import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { importLines, lookup, mirrorAccount } from '../helpers/fixtures.js';
import { describePostgres, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review (failing test): the import (and the re-mirror that completes a key rotation) keeps a
 * point's audience when its line does not name one ("a re-import that does not say keeps it").
 * writeAccounts (src/directory/bulk-write.ts) reads the points' audiences at the start of its
 * transaction without locking anything, hashes the whole batch (20,000 lines: a wide window), and
 * then writes every point back with the audience it read. On PostgreSQL (read committed) an owner
 * who switched to "my contacts" in between (PATCH answered 200, discoverableBy contacts) is written
 * back to `everyone` and is found by any stranger; the app was told the setting took.
 *
 * The same read-modify-write is in DirectoryService.patchContactPoint (src/directory/service.ts): every
 * PATCH, even one that sends only `verified`, writes back the purposes and the audience it read, so
 * the app's re-confirmation of a number racing the owner's switch undoes the switch.
 *
 * The import is slowed with a trigger that sleeps before its account upsert (after its reads, before
 * any lock on the owner's rows): it stands for the time a large batch spends hashing; the PATCH with
 * a statement trigger that sleeps once before its UPDATE locks the row. SQLite serialises the
 * transactions on its one connection, so only PostgreSQL runs the cases.
 */
const OWNER = '+14155550181';

describePostgres('review: an import keeps the audience it read, not the one in force', () => {
  let svc: TestService;
  let pointId: string;
  beforeAll(async () => {
    svc = await startTestService('postgres', { policy: 'none' });
    [pointId] = (await mirrorAccount(svc, 'owner', [{ value: OWNER, purposes: ['two_factor', 'discovery'] }])) as [string];
    await mirrorAccount(svc, 'stranger', [{ value: '+14155550182', purposes: ['two_factor'] }]);
    await sql`CREATE FUNCTION review_slow_import() RETURNS trigger AS $$
      BEGIN IF NEW.handle = 'h_slow' THEN PERFORM pg_sleep(1.5); END IF; RETURN NEW; END $$ LANGUAGE plpgsql`.execute(svc.ctx.db.kysely);
    await sql`CREATE TRIGGER review_slow_import BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION review_slow_import()`.execute(svc.ctx.db.kysely);
  });
  afterAll(async () => svc.stop());

  it('a switch to "my contacts" made while a re-import runs is not undone by it', async () => {
    const stranger = await svc.tokenFor('stranger');
    expect((await lookup(svc, stranger, { phone: OWNER })).json().match).toMatchObject({ accountId: 'owner' });

    // The app re-mirrors the owner (a key rotation's re-import), saying nothing of the audience.
    const importing = importLines(svc, [
      { accountId: 'owner', handle: 'h_slow', contactPoints: [{ kind: 'phone', value: OWNER, purposes: ['two_factor', 'discovery'], verified: true }] },
    ]);
    // Wait until the import has read the points and sleeps before its upsert.
    for (let i = 0; i < 100; i++) {
      const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()`.execute(svc.ctx.db.kysely);
      if (r.rows[0]!.n > 0) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    // Meanwhile the owner chooses "my contacts"; the app is told it took.
    const patched = await svc.app.inject({
      method: 'PATCH', url: `/internal/v1/accounts/owner/contact-points/${pointId}`, headers: svc.internal, payload: { discoverableBy: 'contacts' },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ discoverableBy: 'contacts' });

    const imported = await importing;
    expect(imported.statusCode, imported.body).toBe(200);
    expect(imported.json()).toMatchObject({ failed: 0 });

    // The stranger is in no book of the owner's: the number is not theirs to find.
    svc.clock.advance(2000);
    expect((await lookup(svc, stranger, { phone: OWNER })).json().match).toBeNull();
    // The line named no audience: the owner's own choice, made last, stands.
    const view = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/owner', headers: svc.internal });
    expect(view.json().contactPoints[0]).toMatchObject({ discoverableBy: 'contacts' });
  });

  it('a PATCH of the verified flag alone does not write back the audience it read', async () => {
    // A fresh owner, found by everyone.
    const [id] = (await mirrorAccount(svc, 'owner2', [{ value: '+14155550183', purposes: ['two_factor', 'discovery'] }])) as [string];
    const stranger = await svc.tokenFor('stranger');
    expect((await lookup(svc, stranger, { phone: '+14155550183' })).json().match).toMatchObject({ accountId: 'owner2' });
    // The next UPDATE of contact_points (one statement, before it locks any row) sleeps once.
    await sql`CREATE TABLE review_flag (id int PRIMARY KEY)`.execute(svc.ctx.db.kysely);
    await sql`CREATE FUNCTION review_slow_update() RETURNS trigger AS $$
      DECLARE got int; BEGIN
        SELECT id INTO got FROM review_flag FOR UPDATE SKIP LOCKED LIMIT 1;
        IF got IS NOT NULL THEN DELETE FROM review_flag WHERE id = got; PERFORM pg_sleep(1.5); END IF;
        RETURN NULL; END $$ LANGUAGE plpgsql`.execute(svc.ctx.db.kysely);
    await sql`CREATE TRIGGER review_slow_update BEFORE UPDATE ON contact_points FOR EACH STATEMENT EXECUTE FUNCTION review_slow_update()`.execute(svc.ctx.db.kysely);
    await sql`INSERT INTO review_flag VALUES (1)`.execute(svc.ctx.db.kysely);

    // The app re-confirms the number (verified: true, nothing else).
    const reverify = svc.app.inject({ method: 'PATCH', url: `/internal/v1/accounts/owner2/contact-points/${id}`, headers: svc.internal, payload: { verified: true } });
    for (let i = 0; i < 100; i++) {
      const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()`.execute(svc.ctx.db.kysely);
      if (r.rows[0]!.n > 0) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    const patched = await svc.app.inject({
      method: 'PATCH', url: `/internal/v1/accounts/owner2/contact-points/${id}`, headers: svc.internal, payload: { discoverableBy: 'contacts' },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ discoverableBy: 'contacts' });
    expect((await reverify).statusCode).toBe(200);

    svc.clock.advance(2000);
    expect((await lookup(svc, stranger, { phone: '+14155550183' })).json().match).toBeNull();
    const view = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/owner2', headers: svc.internal });
    expect(view.json().contactPoints[0]).toMatchObject({ discoverableBy: 'contacts' });
  });
});

import { afterAll, beforeAll, expect, it } from 'vitest';
import { mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

describeEachDialect('internal API', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect);
  });
  afterAll(async () => svc.stop());

  const put = (id: string, payload: unknown, headers: Record<string, string> = svc.internal) =>
    svc.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers, payload: payload as object });
  const get = (id: string) => svc.app.inject({ method: 'GET', url: `/internal/v1/accounts/${id}`, headers: svc.internal });
  const addCp = (id: string, payload: unknown) =>
    svc.app.inject({ method: 'POST', url: `/internal/v1/accounts/${id}/contact-points`, headers: svc.internal, payload: payload as object });

  it('refuses a missing or wrong service key', async () => {
    const none = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/a1' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('unauthenticated');
    const wrong = await put('a1', { handle: 'x' }, { authorization: 'Bearer nope-nope-nope-nope' });
    expect(wrong.statusCode).toBe(401);
    const jwtLike = await put('a1', { handle: 'x' }, { authorization: `Bearer ${await svc.tokenFor('a1')}` });
    expect(jwtLike.statusCode).toBe(401);
  });

  it('creates (201) then updates (200) an account, with sign-up context', async () => {
    const created = await put('alice', {
      handle: 'alice',
      createdAt: '2024-03-01T10:00:00Z',
      phoneRegion: 'GB',
      signup: { ip: '81.2.69.160', deviceId: 'dev-1', userAgent: 'app/1.0' },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      id: 'alice',
      handle: 'alice',
      createdAt: '2024-03-01T10:00:00.000Z',
      status: 'active',
      phoneRegion: 'GB',
      signup: { ip: '81.2.69.160', deviceId: 'dev-1', userAgent: 'app/1.0' },
      risk: null,
      contactPoints: [],
    });
    const updated = await put('alice', { handle: 'alice2', status: 'suspended' });
    expect(updated.statusCode).toBe(200);
    expect(updated.json()).toMatchObject({ handle: 'alice2', status: 'suspended', appStatus: 'suspended', findguardStatus: 'active', createdAt: '2024-03-01T10:00:00.000Z' });
  });

  it('rejects bad account input with 400 invalid_request and writes nothing', async () => {
    for (const body of [
      {},
      { handle: '' },
      { handle: 'x', status: 'deleted' },
      { handle: 'x', createdAt: 'yesterday' },
      { handle: 'x', phoneRegion: 'gb' },
      { handle: 'x', signup: { ip: '999.1.1.1' } },
      { handle: 'x', extra: 1 },
      // A handle is answered to whoever finds the account: never a raw contact value.
      { handle: '+14155552671' },
      { handle: 'jane.doe@example.org' },
    ]) {
      const res = await put('bad-input', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.code).toBe('invalid_request');
    }
    expect((await get('bad-input')).statusCode).toBe(404);
    const badId = await put('bad id!', { handle: 'x' });
    expect(badId.statusCode).toBe(400);
    const notJson = await svc.app.inject({
      method: 'PUT',
      url: '/internal/v1/accounts/x',
      headers: { ...svc.internal, 'content-type': 'application/json' },
      payload: '{"handle":',
    });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().error.code).toBe('invalid_request');
  });

  it('adds, lists (without values), patches and deletes contact points', async () => {
    await mirrorAccount(svc, 'bob');
    const phone = await addCp('bob', { kind: 'phone', value: '07911 123456', region: 'GB', purposes: ['discovery', 'two_factor'], verified: true });
    expect(phone.statusCode).toBe(201);
    const phoneId = phone.json().id as string;
    const email = await addCp('bob', { kind: 'email', value: '  Bob@Example.ORG ', purposes: ['recovery'], verified: false });
    expect(email.statusCode).toBe(201);

    const view = await get('bob');
    expect(view.statusCode).toBe(200);
    const body = view.body;
    expect(body).not.toContain('7911');
    expect(body.toLowerCase()).not.toContain('bob@example.org');
    const points = view.json().contactPoints as Array<Record<string, unknown>>;
    expect(points).toHaveLength(2);
    expect(points.find((p) => p.id === phoneId)).toMatchObject({ kind: 'phone', purposes: ['two_factor', 'discovery'], verified: true, discoverable: true, keyVersion: 1 });

    const dup = await addCp('bob', { kind: 'phone', value: NUMBERS.gbA, purposes: ['discovery'], verified: true });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error).toMatchObject({ code: 'conflict', details: { id: phoneId } });

    const patched = await svc.app.inject({
      method: 'PATCH',
      url: `/internal/v1/accounts/bob/contact-points/${phoneId}`,
      headers: svc.internal,
      payload: { purposes: ['two_factor'] },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ purposes: ['two_factor'], discoverable: false });

    const emptyPatch = await svc.app.inject({ method: 'PATCH', url: `/internal/v1/accounts/bob/contact-points/${phoneId}`, headers: svc.internal, payload: {} });
    expect(emptyPatch.statusCode).toBe(400);

    const del = await svc.app.inject({ method: 'DELETE', url: `/internal/v1/accounts/bob/contact-points/${phoneId}`, headers: svc.internal });
    expect(del.statusCode).toBe(204);
    const again = await svc.app.inject({ method: 'DELETE', url: `/internal/v1/accounts/bob/contact-points/${phoneId}`, headers: svc.internal });
    expect(again.statusCode).toBe(404);
    expect((await get('bob')).json().contactPoints).toHaveLength(1);
  });

  it('validates contact points: bad numbers and emails, purposes, unknown account', async () => {
    await mirrorAccount(svc, 'carol');
    const cases: Array<[unknown, number, string]> = [
      [{ kind: 'phone', value: '12345', purposes: ['discovery'], verified: true }, 400, 'invalid_phone'],
      [{ kind: 'phone', value: '0791112345', purposes: ['discovery'], verified: true }, 400, 'invalid_phone'],
      [{ kind: 'email', value: 'not-an-email', purposes: ['discovery'], verified: true }, 400, 'invalid_email'],
      [{ kind: 'phone', value: NUMBERS.usA, purposes: ['discovery', 'discovery'], verified: true }, 400, 'invalid_request'],
      [{ kind: 'phone', value: NUMBERS.usA, purposes: ['marketing'], verified: true }, 400, 'invalid_request'],
      [{ kind: 'fax', value: NUMBERS.usA, purposes: ['discovery'], verified: true }, 400, 'invalid_request'],
      [{ kind: 'phone', value: NUMBERS.usA, purposes: ['discovery'] }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of cases) {
      const res = await addCp('carol', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(status);
      expect(res.json().error.code).toBe(code);
      expect(res.body).not.toContain('791112345');
    }
    const unknown = await addCp('nobody-here', { kind: 'phone', value: NUMBERS.usA, purposes: ['discovery'], verified: true });
    expect(unknown.statusCode).toBe(404);
    expect((await get('carol')).json().contactPoints).toHaveLength(0);
  });

  it('erases an account with its contact points', async () => {
    await mirrorAccount(svc, 'dave', [{ value: NUMBERS.deA, purposes: ['discovery'] }]);
    const del = await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/dave', headers: svc.internal });
    expect(del.statusCode).toBe(204);
    expect((await get('dave')).statusCode).toBe(404);
    const rows = await svc.ctx.db.kysely.selectFrom('contact_points').select('id').where('account_id', '=', 'dave').execute();
    expect(rows).toHaveLength(0);
    const again = await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/dave', headers: svc.internal });
    expect(again.statusCode).toBe(404);
  });

  it('answers unknown routes and methods with coded errors', async () => {
    const res = await svc.app.inject({ method: 'GET', url: '/internal/v1/nope', headers: svc.internal });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });
});

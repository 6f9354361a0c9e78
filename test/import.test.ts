import { afterAll, beforeAll, expect, it } from 'vitest';
import { lookup, mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

const ndjson = (lines: unknown[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';

describeEachDialect('bulk import', (dialect) => {
  let svc: TestService;
  let token: string;
  beforeAll(async () => {
    svc = await startTestService(dialect);
    await mirrorAccount(svc, 'searcher');
    token = await svc.tokenFor('searcher');
  });
  afterAll(async () => svc.stop());

  const post = (body: string, contentType = 'application/x-ndjson') =>
    svc.app.inject({ method: 'POST', url: '/internal/v1/import', headers: { ...svc.internal, 'content-type': contentType }, payload: body });

  it('applies good lines and reports bad ones by line number, changing nothing for them', async () => {
    const res = await post(
      ndjson([
        { accountId: 'imp-1', handle: 'one', createdAt: '2020-01-01T00:00:00Z', contactPoints: [{ kind: 'phone', value: NUMBERS.usA, purposes: ['discovery'], verified: true }] },
        '{"accountId": "imp-2", ',
        { accountId: 'imp-3', handle: 'three', contactPoints: [{ kind: 'phone', value: '12', purposes: ['discovery'], verified: true }] },
        { accountId: 'imp-4', handle: 'four', contactPoints: [{ kind: 'phone', value: '07911 123456', region: 'GB', purposes: ['discovery', 'two_factor'], verified: true }, { kind: 'email', value: 'Four@Example.com', purposes: ['discovery'], verified: true }] },
        '',
        { accountId: 'imp-5', handle: 'five', status: 'frozen' },
        { accountId: 'imp-6', handle: 'six', contactPoints: [{ kind: 'phone', value: NUMBERS.deA, purposes: ['two_factor'], verified: true }] },
      ]),
    );
    expect(res.statusCode).toBe(200);
    const report = res.json();
    expect(report).toMatchObject({ lines: 7, accounts: 3, contactPoints: 4, failed: 3 });
    expect(report.errors.map((e: { line: number; code: string }) => [e.line, e.code])).toEqual([
      [2, 'invalid_json'],
      [3, 'invalid_phone'],
      [6, 'invalid_request'],
    ]);
    expect(res.body).not.toContain('4155552671');
    for (const missing of ['imp-2', 'imp-3', 'imp-5']) {
      const r = await svc.app.inject({ method: 'GET', url: `/internal/v1/accounts/${missing}`, headers: svc.internal });
      expect(r.statusCode, missing).toBe(404);
    }
    expect((await lookup(svc, token, { phone: NUMBERS.usA })).json().match).toEqual({ accountId: 'imp-1', handle: 'one' });
    expect((await lookup(svc, token, { phone: NUMBERS.gbA })).json().match).toEqual({ accountId: 'imp-4', handle: 'four' });
    expect((await lookup(svc, token, { email: 'four@example.com' })).json().match).toEqual({ accountId: 'imp-4', handle: 'four' });
    expect((await lookup(svc, token, { phone: NUMBERS.deA })).json().match).toBeNull();
    const one = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/imp-1', headers: svc.internal });
    expect(one.json().createdAt).toBe('2020-01-01T00:00:00.000Z');
  });

  it('is idempotent: a re-import updates purposes and keeps creation date and ids', async () => {
    const line = { accountId: 'imp-7', handle: 'seven', createdAt: '2021-05-05T00:00:00Z', contactPoints: [{ kind: 'phone', value: NUMBERS.brA, purposes: ['discovery'], verified: true }] };
    await post(ndjson([line]));
    const before = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/imp-7', headers: svc.internal });
    const again = await post(ndjson([{ ...line, createdAt: undefined, handle: 'seven2', contactPoints: [{ ...line.contactPoints[0], purposes: ['two_factor'] }] }]));
    expect(again.json()).toMatchObject({ accounts: 1, contactPoints: 1, failed: 0 });
    const after = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/imp-7', headers: svc.internal });
    expect(after.json().createdAt).toBe('2021-05-05T00:00:00.000Z');
    expect(after.json().handle).toBe('seven2');
    expect(after.json().contactPoints).toHaveLength(1);
    expect(after.json().contactPoints[0].id).toBe(before.json().contactPoints[0].id);
    expect(after.json().contactPoints[0].purposes).toEqual(['two_factor']);
    expect((await lookup(svc, token, { phone: NUMBERS.brA })).json().match).toBeNull();
  });

  it('handles the same account twice in one stream, the later line winning', async () => {
    const res = await post(ndjson([{ accountId: 'imp-8', handle: 'a' }, { accountId: 'imp-8', handle: 'b' }]));
    expect(res.json()).toMatchObject({ accounts: 2, failed: 0 });
    const r = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/imp-8', headers: svc.internal });
    expect(r.json().handle).toBe('b');
  });

  it('refuses an over-long line on its own and a wrong content type', async () => {
    const long = JSON.stringify({ accountId: 'imp-9', handle: 'x'.repeat(70_000) });
    const res = await post(ndjson([long, { accountId: 'imp-10', handle: 'ten' }]));
    expect(res.json()).toMatchObject({ accounts: 1, failed: 1, errors: [{ line: 1, code: 'line_too_long' }] });
    const json = await svc.app.inject({ method: 'POST', url: '/internal/v1/import', headers: svc.internal, payload: { accountId: 'x' } });
    expect(json.statusCode).toBe(415);
    expect(json.json().error.code).toBe('unsupported_media_type');
    const noKey = await svc.app.inject({ method: 'POST', url: '/internal/v1/import', headers: { 'content-type': 'application/x-ndjson' }, payload: '{}' });
    expect(noKey.statusCode).toBe(401);
  });

  it('imports thousands of lines in batches', async () => {
    const lines = Array.from({ length: 2500 }, (_, i) => ({
      accountId: `bulk-${i}`,
      handle: `bulk${i}`,
      contactPoints: [{ kind: 'phone', value: `+4915${String(100000000 + i)}`, purposes: ['discovery'], verified: true }],
    }));
    const res = await post(ndjson(lines));
    expect(res.json()).toMatchObject({ lines: 2500, accounts: 2500, contactPoints: 2500, failed: 0 });
    expect((await lookup(svc, token, { phone: '+4915100002499' })).json().match).toEqual({ accountId: 'bulk-2499', handle: 'bulk2499' });
  });
});

import { afterAll, beforeAll, expect, it } from 'vitest';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from '../helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: query strings are validated with type coercion (http/validation.ts), and Ajv coerces the
 * text "Infinity" (or "1e400") to the number Infinity; its integer check has no isFinite and its
 * minimum/maximum keywords are skipped for a non-finite number, so `?limit=Infinity` passes every
 * `Type.Integer({ minimum: 1, maximum: 500 })` of the admin API. The incident notices page then
 * hands `Infinity + 1` to SQL LIMIT (incidents/notices.ts deliveries): an opaque 500 on both
 * databases; the audit page takes it as "no limit" and answers past its 500-row maximum.
 */
describeEachDialect('review: a non-finite ?limit is a coded 400', (dialect) => {
  let svc: TestService;
  let admin: SignedIn;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' }, OPERATOR_OVERRIDES);
    admin = await signIn(svc, await addOperator(svc, 'limit-admin', 'admin'));
  }, 60_000);
  afterAll(async () => svc?.stop());

  for (const value of ['Infinity', '1e400']) {
    it(`incident notices ?limit=${value}`, async () => {
      const res = await svc.app.inject({ method: 'GET', url: `/admin/v1/incidents/inc_nope/notices?limit=${value}`, headers: { cookie: admin.cookie } });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.code).toBe('invalid_request');
    });

    it(`audit ?limit=${value} (maximum 500)`, async () => {
      const res = await svc.app.inject({ method: 'GET', url: `/admin/v1/audit?limit=${value}`, headers: { cookie: admin.cookie } });
      expect(res.statusCode, res.body.slice(0, 200)).toBe(400);
      expect(res.json().error.code).toBe('invalid_request');
    });
  }
});

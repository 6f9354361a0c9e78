import { afterAll, beforeAll, expect, it } from 'vitest';
import { describePostgres, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review (directory, internal API): PUT /internal/v1/accounts/{id} is "create or update"
 * (DESIGN §4: 200/201), but upsertAccount (src/directory/accounts.ts:23-50) reads the row, then
 * INSERTs when it found none. On PostgreSQL (read committed) two PUTs of one new id at once both
 * read nothing and both insert: the second fails on the primary key (23505), which the error
 * handler answers as an opaque 500 "internal" (src/http/errors.ts:52-54). An app backend that
 * retries a timed-out mirror, or mirrors one sign-up from two workers, gets a 500 for a valid call.
 */
describePostgres('two PUTs of one new account at once', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('postgres', { policy: 'none' });
  });
  afterAll(async () => svc?.stop());

  it('both answer 200/201, never 500', async () => {
    const statuses: number[] = [];
    for (let round = 0; round < 10; round++) {
      const id = `racer-${round}`;
      const put = () => svc.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers: svc.internal, payload: { handle: `h${round}` } });
      const rs = await Promise.all([put(), put(), put()]);
      statuses.push(...rs.map((r) => r.statusCode));
      // One created it, the others updated it.
      expect(rs.map((r) => r.statusCode).sort()).toEqual([200, 200, 201]);
    }
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
  });
});

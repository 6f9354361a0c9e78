import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '../src/incidents/index.js';
import { PAIR_RULE } from '../src/operators/throttle.js';
import { OPERATOR_OVERRIDES } from './helpers/operators.js';
import { startTestService, type TestService } from './helpers/service.js';

/**
 * A name that is no operator's is audited as '?' and counted under a keyed hash (throttle.ts
 * nameDigest), yet still counted per name: a guesser repeating one unknown name from one address
 * waits as they would on a real one (else the wait itself would tell real names from unknown
 * ones), while another name from that address is not held up by it.
 */
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService('sqlite', { policy: 'none' }, OPERATOR_OVERRIDES);
}, 60_000);
afterAll(async () => svc?.stop());

const post = (name: string, from: string) => svc.app.inject({ method: 'POST', url: '/admin/v1/session', remoteAddress: from, payload: { name, password: 'not-a-password', totp: '000000' } });

it('an unknown name is throttled per (name, address) like a real one, and stored nowhere', async () => {
  const from = '198.51.100.77';
  for (let i = 0; i <= PAIR_RULE.free; i++) expect((await post('Someone@Example.net', from)).statusCode).toBe(401);
  // The same name in other case is the same name to the throttle, as a real name is.
  const held = await post('someone@example.net', from);
  expect(held.statusCode).toBe(429);
  expect(Number(held.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect((await post('another.name', from)).statusCode).toBe(401);

  const [throttled] = await listAudit(svc.ctx.db.kysely, { action: 'signin.throttled', limit: 1 });
  expect(throttled).toMatchObject({ actor: { name: '?' }, subject: 'operator-name:?' });
  const stored = JSON.stringify([(await sql`select * from audit_log`.execute(svc.ctx.db.kysely)).rows, (await sql`select * from signin_throttle`.execute(svc.ctx.db.kysely)).rows]).toLowerCase();
  for (const typed of ['someone', 'example.net', 'another.name']) expect(stored).not.toContain(typed);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, postgresAvailable } from './helpers/postgres.js';
import { mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES } from './helpers/operators.js';
import { pollUntil } from './helpers/processes.js';
import { REDIS_URL, redisAvailable, uniquePrefix } from './helpers/redis.js';
import { startTestService, T0, type TestService } from './helpers/service.js';

/**
 * Scaled out: two serving nodes on one PostgreSQL database and one Redis. An operator's block on
 * an ASN, added through node A's admin API, refuses a lookup from that ASN on node B within 2 s
 * (the decision table, read on the Redis notice); lifted through node B, node A answers again.
 */

const BOUND_MS = 2000;
const ADDR = '81.2.69.160';
const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const up = (await postgresAvailable()) && (await redisAvailable());
if (!up && !requireServices) console.warn('\n*** admin-decisions-multinode needs PostgreSQL and Redis: SKIPPED (CI runs it) ***\n');

(up || requireServices ? describe : describe.skip)('operator decisions on two serving nodes', () => {
  let a: TestService;
  let b: TestService;
  let drop: () => Promise<void>;
  let token: string;
  beforeAll(async () => {
    const shared = await createTestDatabase('fg_admin_multi');
    drop = shared.drop;
    const prefix = uniquePrefix('admin-multi');
    const env = { databaseUrl: shared.url, redisUrl: REDIS_URL };
    const overrides = { ...OPERATOR_OVERRIDES, redisPrefix: prefix, incidents: { decisions: { pollMs: 60_000 } } };
    a = await startTestService('postgres', env, overrides);
    b = await startTestService('postgres', env, overrides);
    const op = await addOperator(a, 'ops', 'analyst');
    token = (await a.ctx.operators.createToken('cli', op.id, 'multinode')).token;
    await mirrorAccount(a, 'caller', [], { createdAt: new Date(T0 - 400 * 86_400_000).toISOString(), phoneRegion: 'GB' });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await drop?.();
  });

  const lookupFrom = async (svc: TestService) =>
    (await svc.app.inject({ method: 'POST', url: '/v1/discovery/lookup', remoteAddress: ADDR, headers: { authorization: `Bearer ${await svc.tokenFor('caller')}` }, payload: { phone: NUMBERS.gbA } })).statusCode;

  it('a block added on one node refuses calls on the other within 2 s; lifted on that one, the first answers again', async () => {
    expect(await lookupFrom(b)).toBe(200);
    const asn = a.ctx.ipIntel.lookup(ADDR).asn;
    const added = await a.app.inject({ method: 'POST', url: '/admin/v1/decisions', headers: { authorization: `Bearer ${token}` }, payload: { scope: 'asn', subject: String(asn), action: 'suspend', reason: 'scraping', durationSeconds: 3600 } });
    expect(added.statusCode).toBe(201);
    const start = performance.now();
    await pollUntil('node B refuses', async () => ((await lookupFrom(b)) === 429 ? true : undefined), BOUND_MS);
    expect(performance.now() - start).toBeLessThan(BOUND_MS);

    const lifted = await b.app.inject({ method: 'POST', url: `/admin/v1/decisions/${added.json().id}/lift`, headers: { authorization: `Bearer ${token}` }, payload: { reason: 'over' } });
    expect(lifted.statusCode).toBe(200);
    await pollUntil('node A answers again', async () => ((await lookupFrom(a)) === 200 ? true : undefined), BOUND_MS);
  });
});

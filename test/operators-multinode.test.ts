import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../src/operators/totp.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type TestOperator } from './helpers/operators.js';
import { postgresAvailable } from './helpers/postgres.js';
import { REDIS_URL, uniquePrefix } from './helpers/redis.js';
import { HASH_KEYS, startTestService, type TestService } from './helpers/service.js';

/**
 * Two serving nodes on one PostgreSQL database, as behind a load balancer: a session made on one
 * works on the other and ends on both when revoked on either; a TOTP code spent on one is refused
 * on the other; failures counted on one throttle the same address on the other; disabling an
 * operator on one ends their token on the other. The nodes share Redis, as such a deployment must
 * (a node with its limits in memory is its database's only node: src/db/node-lock.ts).
 */
const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const pgUp = await postgresAvailable();

(pgUp || requireServices ? describe : describe.skip)('operators on two nodes [postgres]', () => {
  let a: TestService;
  let b: TestService;
  let op: TestOperator;
  const shared = { ...OPERATOR_OVERRIDES, redisPrefix: uniquePrefix('operators-multinode') };
  beforeAll(async () => {
    a = await startTestService('postgres', { redisUrl: REDIS_URL }, shared);
    b = await startTestService('postgres', { databaseUrl: a.databaseUrl!, redisUrl: REDIS_URL }, shared);
    op = await addOperator(a, 'nora', 'admin');
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });
  /** Both nodes read the same time. */
  const step = (ms = 30_000): void => {
    a.clock.advance(ms);
    b.clock.set(a.clock.now());
  };

  it('a session made on one node works on the other, and a revocation on either ends it on both', async () => {
    const s = await signIn(a, op);
    b.clock.set(a.clock.now());
    expect((await b.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: s.cookie } })).statusCode).toBe(200);
    expect((await b.app.inject({ method: 'DELETE', url: '/admin/v1/session', headers: s.headers })).statusCode).toBe(204);
    expect((await a.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: s.cookie } })).statusCode).toBe(401);
  });

  it('a TOTP code spent on one node is refused on the other', async () => {
    step();
    const code = totpCode(op.totpSecret, a.clock.now());
    const payload = { name: op.name, password: op.password, totp: code };
    expect((await a.app.inject({ method: 'POST', url: '/admin/v1/session', payload })).statusCode).toBe(200);
    expect((await b.app.inject({ method: 'POST', url: '/admin/v1/session', payload })).statusCode).toBe(401);
  });

  it("failures counted on one node throttle the same address on the other; the operator's own address is spared", async () => {
    step();
    const from = '198.51.100.200';
    for (let i = 0; i < 6; i++) await a.app.inject({ method: 'POST', url: '/admin/v1/session', remoteAddress: from, payload: { name: op.name, password: `guess-${i}`, totp: '000000' } });
    const onB = await b.app.inject({ method: 'POST', url: '/admin/v1/session', remoteAddress: from, payload: { name: op.name, password: op.password, totp: totpCode(op.totpSecret, b.clock.now()) } });
    expect(onB.statusCode).toBe(429);
    step();
    expect((await b.app.inject({ method: 'POST', url: '/admin/v1/session', remoteAddress: '203.0.113.9', payload: { name: op.name, password: op.password, totp: totpCode(op.totpSecret, b.clock.now()) } })).statusCode).toBe(200);
  });

  it('TOTP secrets follow a hash key rotation: a node with the new key reseals on sign-in, and the secret never opens without a key', async () => {
    const rotated = await startTestService('postgres', { databaseUrl: a.databaseUrl!, redisUrl: REDIS_URL, hashKeys: `v2:${Buffer.alloc(32, 9).toString('base64')},${HASH_KEYS}` }, shared);
    try {
      const pia = await addOperator(a, 'pia', 'viewer');
      const sealed = async () => (await a.ctx.db.kysely.selectFrom('operators').select('totp_secret').where('id', '=', pia.id).executeTakeFirstOrThrow()).totp_secret;
      expect(await sealed()).toMatch(/^k1:/);
      rotated.clock.set(a.clock.now());
      await signIn(rotated, pia);
      expect(await sealed()).toMatch(/^k2:/);
      // A node still without the new key cannot open it: the operator is refused there, not let in.
      a.clock.set(rotated.clock.now() + 30_000);
      const res = await a.app.inject({ method: 'POST', url: '/admin/v1/session', payload: { name: 'pia', password: pia.password, totp: totpCode(pia.totpSecret, a.clock.now()) } });
      expect(res.statusCode).toBe(401);
      b.clock.set(a.clock.now());
    } finally {
      await rotated.stop();
    }
  });

  it("disabling an operator on one node ends their token on the other at once", async () => {
    const other = await addOperator(a, 'otto', 'viewer');
    const { token } = await a.ctx.operators.createToken('cli', other.id, 'x');
    const bearer = { authorization: `Bearer ${token}` };
    expect((await b.app.inject({ method: 'GET', url: '/admin/v1/session', headers: bearer })).statusCode).toBe(200);
    await a.ctx.operators.disable('cli', other.id);
    expect((await b.app.inject({ method: 'GET', url: '/admin/v1/session', headers: bearer })).statusCode).toBe(401);
  });
});

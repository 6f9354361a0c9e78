import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { throttleNameKey } from '../src/operators/throttle.js';
import { totpCode } from '../src/operators/totp.js';
import { addOperator, OPERATOR_OVERRIDES, type TestOperator } from './helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * signin_throttle keys the release before 3356147 wrote under plain names (`op:<name>`,
 * `pair:<name>|<address>`) move to the keyed form with their counts and waits
 * (src/operators/throttle-legacy.ts): all of them when a serving node starts, before it serves;
 * a name's own when that name is tried (a node of the older release still counting during a
 * rolling upgrade); the rest at the next hourly sweep a sign-in attempt runs.
 */
const MIN = 60_000;

describeEachDialect('sign-in throttle keys under plain names', (dialect) => {
  let a: TestService;
  let olga: TestOperator;
  beforeAll(async () => {
    a = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
    olga = await addOperator(a, 'olga', 'admin');
  }, 60_000);
  afterAll(async () => a?.stop());

  const digest = (name: string): string => createHmac('sha256', throttleNameKey(a.secrets.hashKeys)).update(name.toLowerCase()).digest('hex').slice(0, 32);
  const rows = async (): Promise<Record<string, { failures: number; blocked_until: number; last_failure_at: number }>> =>
    Object.fromEntries(
      (await a.ctx.db.kysely.selectFrom('signin_throttle').selectAll().execute()).map((r) => [r.key, { failures: Number(r.failures), blocked_until: Number(r.blocked_until), last_failure_at: Number(r.last_failure_at) }]),
    );
  const put = (key: string, failures: number, blocked_until: number, last_failure_at: number) =>
    a.ctx.db.kysely.insertInto('signin_throttle').values({ key, failures, blocked_until, last_failure_at }).execute();

  it('a node starting on the database keys them before it serves, keeping counts and waits, merged with what is keyed already', async () => {
    const now = a.clock.now();
    await put('op:olga', 40, now + 30 * MIN, now);
    await put(`op:${digest('olga')}`, 2, 0, now - 10 * MIN);
    await put('pair:lena@corp.example|203.0.113.9', 3, 0, now - 5 * MIN);
    await put('pair:?|198.51.100.7', 7, now + MIN, now);
    // A plain count forgotten (more than an hour before the keyed one's last failure) adds nothing.
    await put('pair:olga|203.0.113.9', 4, 0, now - 2 * 60 * MIN);
    await put(`pair:${digest('olga')}|203.0.113.9`, 5, 0, now);
    await put('addr:198.51.100.7', 9, 0, now);
    await put('totp:op_someone', 1, 0, now);

    const b = await startTestService(dialect, { databaseUrl: a.config.database.dialect === 'sqlite' ? `sqlite:${a.config.database.path}` : a.databaseUrl! }, { ...OPERATOR_OVERRIDES, limitStore: a.ctx.limitStore });
    try {
      expect(await rows()).toEqual({
        [`op:${digest('olga')}`]: { failures: 42, blocked_until: now + 30 * MIN, last_failure_at: now },
        [`pair:${digest('lena@corp.example')}|203.0.113.9`]: { failures: 3, blocked_until: 0, last_failure_at: now - 5 * MIN },
        [`pair:${digest('?')}|198.51.100.7`]: { failures: 7, blocked_until: now + MIN, last_failure_at: now },
        [`pair:${digest('olga')}|203.0.113.9`]: { failures: 5, blocked_until: 0, last_failure_at: now },
        'addr:198.51.100.7': { failures: 9, blocked_until: 0, last_failure_at: now },
        'totp:op_someone': { failures: 1, blocked_until: 0, last_failure_at: now },
      });
      expect(await b.ctx.operators.throttle.operatorRetryAfter('OLGA', now)).toBe(30 * MIN);
    } finally {
      await b.stop();
    }
    await a.ctx.db.kysely.deleteFrom('signin_throttle').execute();
  });

  it('a (name, address) lock a node of the older release counted during the rolling upgrade refuses at once on a new node', async () => {
    const now = a.clock.now();
    await put('pair:olga|198.51.100.23', 9, now + 10 * MIN, now);
    const attempt = a.ctx.operators.signIn('olga', olga.password, totpCode(olga.totpSecret, now), { from: '198.51.100.23', tool: 'console' });
    await expect(attempt).rejects.toMatchObject({ code: 'rate_limited' });
    expect(Object.keys(await rows()).filter((k) => k.includes('olga'))).toEqual([]);
    expect((await rows())[`pair:${digest('olga')}|198.51.100.23`]).toMatchObject({ failures: 9, blocked_until: now + 10 * MIN });
  });

  it("the hourly sweep a failed attempt runs keys another name's plain rows and deletes day-old ones", async () => {
    const now = a.clock.now();
    await put('pair:mira@corp.example|192.0.2.4', 2, 0, now);
    await put('addr:192.0.2.99', 3, 0, now - 2 * 24 * 60 * MIN);
    // Within the hour of the last sweep (the node's start): only the name tried is looked at.
    await a.ctx.operators.signIn('nobody-here', 'wrong-password-123', '000000', { from: '198.51.100.50', tool: 'console' }).catch(() => undefined);
    expect(Object.keys(await rows())).toContain('pair:mira@corp.example|192.0.2.4');

    a.clock.set(now + 61 * MIN);
    await a.ctx.operators.signIn('nobody-here', 'wrong-password-123', '000000', { from: '198.51.100.50', tool: 'console' }).catch(() => undefined);
    const after = await rows();
    expect(Object.keys(after).filter((k) => k.includes('@') || k.includes('mira'))).toEqual([]);
    expect(after[`pair:${digest('mira@corp.example')}|192.0.2.4`]).toMatchObject({ failures: 2 });
    expect(after['addr:192.0.2.99']).toBeUndefined();
  });
});

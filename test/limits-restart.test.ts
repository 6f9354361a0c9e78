import { afterEach, expect, it } from 'vitest';
import { compilePolicy } from '../src/policy/index.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/main.js';
import { SeededRandom } from '../src/util/random.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * A restart is no side door: on the embedded default the limits live in this process's memory,
 * and a node that forgot them on restart would hand every caller a fresh budget (and every solved
 * challenge a second use) each time it is redeployed, or each time a crash can be provoked.
 */
const DAY = 86_400_000;
const policy = () =>
  compilePolicy({
    name: 'restart',
    tiers: [{ name: 'standard' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 10, refill: 10, per: '1d' } } }],
  });
const numbers = (from: number, n: number) => Array.from({ length: n }, (_, i) => `+49151${String(30_000_000 + from + i).padStart(8, '0')}`);

describeEachDialect('limits survive a restart of the embedded store', (dialect) => {
  let first: TestService;
  let second: Service | undefined;
  afterEach(async () => {
    await second?.close();
    second = undefined;
    await first?.stop();
  });

  async function call(svc: Service, account: string, contacts: string[]) {
    const token = await first.tokenFor(account);
    return svc.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${token}` }, payload: { contacts } });
  }

  /**
   * A crash ends the process's database sessions and file locks, and with them the single-node
   * lock a node with limits in memory holds (src/db/node-lock.ts); its store is not closed.
   */
  async function crash(svc: TestService): Promise<void> {
    // Not a terminated session: a node that lives on takes its lock again (review/two-nodes-without-redis).
    await svc.ctx.dropNodeLockAsCrash();
  }

  async function restart(): Promise<Service> {
    await first.close();
    return createService(first.config, first.secrets, { clock: first.clock, random: new SeededRandom(43), logger: createLogger('silent'), policy: policy() });
  }

  it('a budget spent before a graceful restart stays spent after it', async () => {
    first = await startTestService(dialect, {}, { policy: policy() });
    await mirrorAccount(first, 'alice', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
    expect((await call(first, 'alice', numbers(0, 8))).statusCode).toBe(200);
    second = await restart();
    const after = await call(second, 'alice', numbers(8, 5));
    expect(after.statusCode).toBe(429);
    expect(after.json().error.details.scope).toBe('account');
    expect((await call(second, 'alice', numbers(8, 2))).statusCode).toBe(200);
  });

  it('what was answered before a crash is kept: a charge is saved before its answer, with no wait', async () => {
    first = await startTestService(dialect, {}, { policy: policy() });
    await mirrorAccount(first, 'bob', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
    expect((await call(first, 'bob', numbers(100, 9))).statusCode).toBe(200);
    // A crash: the state is read back without the store being closed first.
    await crash(first);
    second = await createService(first.config, first.secrets, { clock: first.clock, random: new SeededRandom(44), logger: createLogger('silent'), policy: policy() });
    expect((await call(second, 'bob', numbers(109, 2))).statusCode).toBe(429);
    await first.close();
  });

  it('expired state is not brought back', async () => {
    first = await startTestService(dialect, {}, { policy: policy() });
    await mirrorAccount(first, 'carol', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
    expect((await call(first, 'carol', numbers(200, 10))).statusCode).toBe(200);
    first.clock.advance(2 * DAY);
    second = await restart();
    expect((await call(second, 'carol', numbers(210, 10))).statusCode).toBe(200);
  });
});

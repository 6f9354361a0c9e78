import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { createLogger } from '../../src/logger.js';
import { createService, type Service } from '../../src/main.js';
import { compilePolicy } from '../../src/policy/index.js';
import { SeededRandom } from '../../src/util/random.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Found in review (a restart): the embedded limits store charges in memory and saves what changed
 * every second (memory-store.ts, saveEveryMs), so a crash forgets the charges of the calls it
 * answered in its last second, and the restarted node answers the same account that budget again.
 * The store's own comment names the threat ("a crash an attacker provoked"): an account that spends
 * its whole budget in one sync and then brings the node down (or just lands before an ordinary
 * crash or OOM kill) is answered a second budget after the restart, and again at every crash.
 * The lookup event of the same call is already made durable before the answer leaves
 * (recordAllowed); the charge is not.
 *
 * Closed when a charge the answer depended on is saved before the answer is sent (for instance
 * with the call's durable event, or by the store's apply on the embedded default). The second case
 * tells "before" from "soon after": a charge that cannot be saved must keep the answer from leaving.
 */
const DAY = 86_400_000;
const policy = () =>
  compilePolicy({
    name: 'crash-window',
    tiers: [{ name: 'standard' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 10, refill: 10, per: '1d' } } }],
  });
const numbers = (from: number, n: number) => Array.from({ length: n }, (_, i) => `+49151${String(40_000_000 + from + i).padStart(8, '0')}`);

describeEachDialect('limits charged just before a crash', (dialect) => {
  let first: TestService | undefined;
  let second: Service | undefined;
  afterEach(async () => {
    await second?.close();
    second = undefined;
    await first?.stop();
    first = undefined;
  });

  it('a budget spent in the crash\'s last second is not handed out again after the restart', async () => {
    const a = (first = await startTestService(dialect, {}, { policy: policy() }));
    await mirrorAccount(a, 'dave', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
    const call = async (svc: Service, contacts: string[]) =>
      svc.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${await a.tokenFor('dave')}` }, payload: { contacts } });
    // The whole day's budget, answered.
    expect((await call(a, numbers(0, 10))).statusCode).toBe(200);
    // A crash right after the answer: the process saves nothing more (its timer dies with it; in
    // this test process it would still fire a second later, so it is stopped here), its sessions
    // and locks end, and its store is not closed.
    const store = a.ctx.limitStore;
    expect(store).toBeInstanceOf(MemoryLimitStore);
    (store as MemoryLimitStore).save = async () => undefined;
    await a.ctx.dropNodeLockAsCrash();
    second = await createService(a.config, a.secrets, { clock: a.clock, random: new SeededRandom(45), logger: createLogger('silent'), policy: policy() });
    // Before the fix: 200, ten more numbers answered on the same day's budget.
    const after = await call(second, numbers(10, 10));
    expect(after.statusCode).toBe(429);
  });

  it('a call whose charge cannot be saved is not answered (503), as one whose event cannot be stored', async () => {
    const a = (first = await startTestService(dialect, {}, { policy: policy() }));
    await mirrorAccount(a, 'erin', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
    const token = await a.tokenFor('erin');
    const kysely = a.ctx.db.kysely;
    // The state table out of reach for the limits alone: the lookup events are stored elsewhere.
    await sql`ALTER TABLE limit_state RENAME TO limit_state_away`.execute(kysely);
    const res = await a.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${token}` }, payload: { contacts: numbers(100, 3) } });
    await sql`ALTER TABLE limit_state_away RENAME TO limit_state`.execute(kysely);
    expect(res.statusCode, res.body).toBe(503);
    expect(res.json().error.code).toBe('unavailable');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });
});

import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/index.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describePostgres, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Found in review (today's group commit, memory-store.ts): "a save unanswered for 2 s fails its
 * waiting calls" holds only for a save that started with waiting calls. The watchdog is armed in
 * saveDirty only when `waiters.length > 0`; the retry a failed save schedules (saveEveryMs later,
 * from the timer) usually starts with none. If that retry hangs (PostgreSQL: a lock on
 * limit_state held by a migration, a VACUUM FULL or an operator's session; a connection that stops
 * answering), every later save is chained behind it (`this.saving.then`), no watchdog is armed
 * for them, and every discovery call that changes limit state waits forever: no 503 with
 * retry-after, no answer, held sockets piling up, and close() hangs as well. PostgreSQL only: on
 * SQLite the save is synchronous and fails at the busy timeout.
 *
 * Closed when a call waiting on a save fails closed (503) after saveTimeoutMs whatever save it is
 * queued behind (e.g. the watchdog armed for waiters, not for a save that has some), and it stays
 * unanswered (the test gives it 6 s; the default timeout is 2 s).
 */
const DAY = 86_400_000;
const policy = () =>
  compilePolicy({
    name: 'hung-retry',
    tiers: [{ name: 'standard' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 100, refill: 100, per: '1d' } } }],
  });
const numbers = (from: number, n: number) => Array.from({ length: n }, (_, i) => `+49151${String(41_000_000 + from + i).padStart(8, '0')}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// PostgreSQL only: SQLite saves synchronously, and a locked file fails the save at the busy timeout.
describePostgres('a limits save retried after a failure that then hangs', () => {
  let svc: TestService | undefined;
  let release: (() => void) | undefined;
  afterEach(async () => {
    release?.();
    release = undefined;
    await svc?.stop();
    svc = undefined;
  });

  it('calls waiting behind it fail closed (503) instead of waiting forever', { timeout: 30_000 }, async () => {
    const a = (svc = await startTestService('postgres', {}, { policy: policy() }));
    await mirrorAccount(a, 'frank', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
    const token = await a.tokenFor('frank');
    const call = (contacts: string[]) => a.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${token}` }, payload: { contacts } });
    const kysely = a.ctx.db.kysely;

    // One failed save (the table briefly out of reach): its call gets 503 and a retry is scheduled.
    await sql`ALTER TABLE limit_state RENAME TO limit_state_away`.execute(kysely);
    expect((await call(numbers(0, 3))).statusCode).toBe(503);
    await sql`ALTER TABLE limit_state_away RENAME TO limit_state`.execute(kysely);

    // Another session holds limit_state (a migration, VACUUM FULL, an operator's transaction).
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const held = new Promise<void>((r) => (release = r));
    const holder = kysely.transaction().execute(async (trx) => {
      await sql`LOCK TABLE limit_state IN ACCESS EXCLUSIVE MODE`.execute(trx);
      locked();
      await held;
    });
    await isLocked;
    // The retry (saveEveryMs, 1 s) starts with no call waiting on it, and blocks on the lock.
    await sleep(1_500);

    const res = await Promise.race([call(numbers(10, 3)), sleep(6_000).then(() => 'no answer after 6 s' as const)]);
    release?.();
    await holder;
    // Before the fix: no answer at all while the lock is held (the call waits behind the hung retry).
    expect(res).not.toBe('no answer after 6 s');
    if (res === 'no answer after 6 s') return;
    expect(res.statusCode, res.body).toBe(503);
    expect(res.json().error.code).toBe('unavailable');
  });
});

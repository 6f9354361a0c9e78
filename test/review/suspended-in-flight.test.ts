import { afterEach, expect, it } from 'vitest';
import { lookup, mirrorAccount, sync } from '../helpers/fixtures.js';
import { HeldLimitStore } from '../helpers/held-limit-store.js';
import { describeEachDialect, startTestService, type Dialect, type TestService } from '../helpers/service.js';

/**
 * Found in review (a suspended account's in-flight calls): the gate reads the caller's status once,
 * before the limits check (authorizeCached / authorizeCaller), and never again. The match reads
 * only the owners' status, not the caller's. So a call that passed authorisation and is waiting on
 * the limits store (a Redis round trip, or a 5,000-number sync on the match pool) when the app or
 * findguard suspends its account is still answered, with every match, after the suspension has
 * committed: "a suspended caller learns nothing" holds only for calls that start afterwards. The
 * same for an account the app erases while its call is in flight: it is answered after erasure.
 *
 * The limits store here is the real in-process one, held at its apply() until the test lets it go:
 * it stands for the time any call spends between authorisation and the directory read.
 */
const TARGET = '+14155550161';

describeEachDialect('a call in flight when its account is suspended or erased', (dialect: Dialect) => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
  });

  async function setUp(): Promise<{ svc: TestService; store: HeldLimitStore }> {
    const store = new HeldLimitStore();
    svc = await startTestService(dialect, {}, { limitStore: store });
    await mirrorAccount(svc, 'owner', [{ value: TARGET, purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'caller');
    return { svc, store };
  }

  const suspend = (s: TestService) =>
    s.app.inject({ method: 'PUT', url: '/internal/v1/accounts/caller', headers: s.internal, payload: { handle: 'h_caller', status: 'suspended' } });

  it('a lookup that passed authorisation before the suspension is not answered after it', async () => {
    const { svc: s, store } = await setUp();
    const token = await s.tokenFor('caller');
    // Warm the caller's status (as any earlier call does) and show the number matches.
    expect((await lookup(s, token, { phone: TARGET })).json()).toMatchObject({ match: { accountId: 'owner' } });

    store.holdNext();
    const inFlight = lookup(s, token, { phone: TARGET });
    await store.reached;
    expect((await suspend(s)).statusCode).toBe(200);
    // Suspended now: a new call learns nothing.
    expect((await lookup(s, token, { phone: TARGET })).statusCode).toBe(403);
    store.letGo();
    const res = await inFlight;
    // The directory is read after the suspension committed: the caller must learn nothing.
    expect(res.json()).not.toMatchObject({ match: { accountId: 'owner' } });
    expect(res.statusCode).toBe(403);
  });

  it('a sync that passed authorisation before the suspension is not answered after it', async () => {
    const { svc: s, store } = await setUp();
    const token = await s.tokenFor('caller');
    store.holdNext();
    const inFlight = sync(s, token, { contacts: [TARGET, '+14155550162', '+14155550163'] });
    await store.reached;
    expect((await suspend(s)).statusCode).toBe(200);
    store.letGo();
    const res = await inFlight;
    expect(res.body).not.toContain('owner');
    expect(res.statusCode).toBe(403);
  });

  it('a lookup in flight when its account is erased is not answered to the erased account', async () => {
    const { svc: s, store } = await setUp();
    const token = await s.tokenFor('caller');
    store.holdNext();
    const inFlight = lookup(s, token, { phone: TARGET });
    await store.reached;
    const erased = await s.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/caller', headers: s.internal });
    expect(erased.statusCode).toBeLessThan(300);
    store.letGo();
    const res = await inFlight;
    expect(res.body).not.toContain('owner');
    expect(res.statusCode).toBe(401);
  });
});

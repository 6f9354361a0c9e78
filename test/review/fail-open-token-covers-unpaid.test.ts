import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { FlakyLimitStore } from '../helpers/flaky-limit-store.js';
import { mirrorAccount, sync } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review (issue: "protection has no side doors"): a policy may let a layer fail open
 * (`onStoreError: open`): while its store (Redis) is out of reach, calls are answered uncharged.
 * That is the operator's trade for the outage. But the sync answered then also got a new token,
 * and a token is the proof that the account "already synced, and paid for" its set: once the
 * store was back, the caller sent that set as `previous` and had every number of it answered
 * again, for free, and again with every token the re-check handed back: numbers no budget was
 * ever charged for stayed a free, permanent oracle (new registrations, discovery turned back on)
 * long after the outage, one set of up to 25,000 numbers per account.
 *
 * Expected: a token handed out by a call that charged nothing covers nothing the caller had not
 * paid for before; sent with the set the call answered, it is refused (400 invalid_token), and
 * the client pays for that set like any other.
 */
const POLICY = `name: review-fail-open
tiers:
  - name: all
layers:
  - id: account-new
    subject: account
    cost: new
    onStoreError: open
    limits:
      all: { burst: 3, refill: 0, per: 1d }
`;

/** Discoverable numbers (not consecutive: the real-time guard has nothing to say about them). */
const TARGETS = ['+4915120050001', '+4915120050013', '+4915120050027', '+4915120050042', '+4915120050058', '+4915120050071'];

describeEachDialect('review: a sync answered while its limits failed open', (dialect) => {
  let svc: TestService | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await svc?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    svc = undefined;
  });

  async function setUp(): Promise<{ svc: TestService; store: FlakyLimitStore; token: string }> {
    dir = mkdtempSync(join(tmpdir(), 'fg-review-fail-open-'));
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    const store = new FlakyLimitStore();
    svc = await startTestService(dialect, { policy: join(dir, 'policy.yaml') }, { limitStore: store });
    for (const [i, value] of TARGETS.entries()) await mirrorAccount(svc, `target-${i}`, [{ value, purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'outage-prober', [{ value: '+4915119990012', purposes: ['two_factor'] }], { phoneRegion: 'DE' });
    return { svc, store, token: await svc.tokenFor('outage-prober') };
  }

  const matchedIds = (body: { matches: Array<{ accountId: string }>; previousMatches: Array<{ accountId: string }> }): string[] =>
    [...body.matches, ...body.previousMatches].map((m) => m.accountId).sort();

  it('a full sync answered uncharged hands out no token for its numbers', async () => {
    const { svc, store, token } = await setUp();
    store.down = true;
    const during = await sync(svc, token, { contacts: TARGETS });
    // The policy's trade: answered while the store is out of reach.
    expect(during.statusCode, during.body).toBe(200);
    expect(matchedIds(during.json())).toHaveLength(TARGETS.length);
    store.down = false;
    svc.clock.advance(60_000);

    // Six numbers, a budget of three that nothing has touched: the set cannot be re-checked for free.
    const after = await sync(svc, token, { contacts: [], previous: { token: during.json().token, contacts: TARGETS } });
    expect(after.statusCode, after.body).toBe(400);
    expect(after.json().error.code).toBe('invalid_token');
    // Without previous it is charged like any book, and six do not fit in three.
    expect((await sync(svc, token, { contacts: TARGETS })).statusCode).toBe(429);
  });

  it('an incremental sync answered uncharged keeps only the token it was paid with', async () => {
    const { svc, store, token } = await setUp();
    // Paid for: one number (two of the three left).
    const paid = await sync(svc, token, { contacts: TARGETS.slice(0, 1) });
    expect(paid.statusCode, paid.body).toBe(200);
    const paidToken: string = paid.json().token;

    store.down = true;
    const during = await sync(svc, token, { contacts: TARGETS.slice(1), previous: { token: paidToken, contacts: TARGETS.slice(0, 1) } });
    expect(during.statusCode, during.body).toBe(200);
    expect(matchedIds(during.json())).toHaveLength(TARGETS.length);
    store.down = false;
    svc.clock.advance(60_000);

    // The five numbers answered during the outage were never charged: not covered by what it handed out.
    const after = await sync(svc, token, { contacts: [], previous: { token: during.json().token, contacts: TARGETS } });
    expect(after.statusCode === 200 ? matchedIds(after.json()) : [], after.body).toEqual([]);
    // Control: the number that was paid for is still re-checked for free (two numbers left, none spent).
    const control = await sync(svc, token, { contacts: [], previous: { token: paidToken, contacts: TARGETS.slice(0, 1) } });
    expect(control.statusCode, control.body).toBe(200);
    expect(matchedIds(control.json())).toEqual(['target-0']);
    expect((await sync(svc, token, { contacts: TARGETS.slice(1, 3) })).statusCode).toBe(200);
  });
});

import { afterEach, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createService, type Service } from '../../src/main.js';
import { ipIntelFromRanges } from '../../src/net/index.js';
import { compilePolicy, DEFAULT_ABUSE_POLICY, type Policy } from '../../src/policy/index.js';
import { SeededRandom } from '../../src/util/random.js';
import { importLines, mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review ("a restart ... giving a fresh budget"): the answers rule leaves a new account's first
 * sync unjudged, once. Which accounts had had it was kept only in the serving process's memory, so
 * a restart (a deploy, or a crash) gave every account under 7 days another unjudged sync: a sleeper
 * fleet that spent its exemption on a tiny book got a slice of a leaked list answered in full after
 * each restart, where the same call before the restart was refused. The claim is now kept in the
 * database (src/abuse/first-sync.ts); test/first-sync-multinode.test.ts covers two nodes.
 */
const DAY = 86_400_000;
const HOME_IP = '198.51.100.7';
const intel = ipIntelFromRanges([{ cidr: '198.51.100.0/24', country: 'GB', asn: 64501, asName: 'Example Broadband' }]);
/** The answers rule enforced, an engine that never acts on its own, a budget that never binds here. */
const POLICY: Policy = {
  name: 'answers-restart',
  tiers: [{ name: 'standard' }],
  layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 5000, refill: 5000, per: '1d' } } }],
  abuse: {
    ...DEFAULT_ABUSE_POLICY,
    mode: 'enforce',
    realtime: { ...DEFAULT_ABUSE_POLICY.realtime, answers: { ...DEFAULT_ABUSE_POLICY.realtime.answers!, minBaselineNumbers: 100 } },
    actions: {
      ...DEFAULT_ABUSE_POLICY.actions,
      throttle: { score: 0.999, duration: '1h' },
      challenge: { score: 0.999, duration: '1h' },
      suspendAccount: { score: 0.999, minSignals: 5 },
      suspendCluster: { score: 0.999, minDetectors: 5, minMembers: 2 },
    },
  },
};
const member = (i: number) => `+447911${100000 + i * 661}`;
const stranger = (i: number) => `+447912${100000 + i * 661}`;
const range = (n: number, f: (i: number) => string, from = 0) => Array.from({ length: n }, (_, i) => f(from + i));
const MEMBERS = 110;

describeEachDialect('a restart hands new accounts no second unjudged sync', (dialect) => {
  let first: TestService;
  let second: Service | undefined;
  afterEach(async () => {
    await second?.close();
    second = undefined;
    await first?.stop();
  });

  const syncAs = async (svc: Service, account: string, contacts: string[]) => {
    first.clock.advance(1000);
    return svc.app.inject({
      method: 'POST',
      url: '/v1/discovery/sync',
      remoteAddress: '127.0.0.1',
      headers: { authorization: `Bearer ${await first.tokenFor(account)}`, 'x-forwarded-for': HOME_IP },
      payload: { contacts },
    });
  };

  it('a sleeper whose first sync was spent is judged after a restart as before it', async () => {
    first = await startTestService(dialect, { trustedProxies: '127.0.0.1' }, { policy: compilePolicy(POLICY), ipIntel: intel });
    const members = Array.from({ length: MEMBERS }, (_, i) => ({ accountId: `m${i}`, handle: `m${i}`, createdAt: new Date(T0 - 400 * DAY).toISOString(), contactPoints: [{ kind: 'phone', value: member(i), purposes: ['discovery'], verified: true }] }));
    expect((await importLines(first, members)).json()).toMatchObject({ accounts: MEMBERS, failed: 0 });
    await first.ctx.db.kysely.insertInto('hit_rates').values({ country: 'GB', numbers: 1_000_000, matched: 150_000, updated_at: T0 }).execute();
    for (const id of ['sleeper-a', 'sleeper-b']) {
      await mirrorAccount(first, id, [], { createdAt: new Date(T0 - DAY).toISOString(), phoneRegion: 'GB' });
      // Each spends its one unjudged sync on a tiny book.
      expect((await syncAs(first, id, range(8, stranger, id === 'sleeper-a' ? 600 : 700))).statusCode).toBe(200);
    }
    const slice = [...range(100, member), ...range(50, stranger)];
    // Before the restart: the slice is judged and refused.
    expect((await syncAs(first, 'sleeper-a', slice)).statusCode).toBe(429);

    // A graceful restart on the same database (a deploy).
    await first.close();
    second = await createService(first.config, first.secrets, { clock: first.clock, random: new SeededRandom(43), logger: createLogger('silent'), policy: compilePolicy(POLICY), ipIntel: intel });
    const after = await syncAs(second, 'sleeper-b', slice);
    expect(after.json().matches?.length ?? 0).toBe(0);
    expect(after.statusCode).toBe(429);
  });
});

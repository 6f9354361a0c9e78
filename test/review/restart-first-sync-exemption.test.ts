import { afterEach, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createService, type Service } from '../../src/main.js';
import { compilePolicy, type Policy } from '../../src/policy/index.js';
import { SeededRandom } from '../../src/util/random.js';
import { answersRulePolicy, DAY, HOME_IP, intel, MEMBERS, memberLines, range, SLICE, stranger } from '../helpers/answers-rule.js';
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
const POLICY: Policy = answersRulePolicy('answers-restart');

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
    const members = memberLines();
    expect((await importLines(first, members)).json()).toMatchObject({ accounts: MEMBERS, failed: 0 });
    await first.ctx.db.kysely.insertInto('hit_rates').values({ country: 'GB', numbers: 1_000_000, matched: 150_000, updated_at: T0 }).execute();
    for (const id of ['sleeper-a', 'sleeper-b']) {
      await mirrorAccount(first, id, [], { createdAt: new Date(T0 - DAY).toISOString(), phoneRegion: 'GB' });
      // Each spends its one unjudged sync on a tiny book.
      expect((await syncAs(first, id, range(8, stranger, id === 'sleeper-a' ? 600 : 700))).statusCode).toBe(200);
    }
    // Before the restart: the slice is judged and refused.
    expect((await syncAs(first, 'sleeper-a', SLICE)).statusCode).toBe(429);

    // A graceful restart on the same database (a deploy).
    await first.close();
    second = await createService(first.config, first.secrets, { clock: first.clock, random: new SeededRandom(43), logger: createLogger('silent'), policy: compilePolicy(POLICY), ipIntel: intel });
    const after = await syncAs(second, 'sleeper-b', SLICE);
    expect(after.json().matches?.length ?? 0).toBe(0);
    expect(after.statusCode).toBe(429);
  });
});

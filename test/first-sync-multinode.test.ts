import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/main.js';
import { compilePolicy, type Policy } from '../src/policy/index.js';
import { SeededRandom } from '../src/util/random.js';
import { answersRulePolicy, DAY, HOME_IP, intel, MEMBERS, memberLines, range, SLICE, stranger } from './helpers/answers-rule.js';
import { importLines, mirrorAccount } from './helpers/fixtures.js';
import { postgresAvailable } from './helpers/postgres.js';
import { deleteByPrefix, REDIS_URL, redisAvailable, redisClient, uniquePrefix } from './helpers/redis.js';
import { startTestService, T0, type TestService } from './helpers/service.js';

/**
 * Scaled out: a new account's one unjudged first sync (the answers rule's exemption,
 * src/abuse/first-sync.ts) is one per account, not one per serving node. A sleeper that spent it
 * through one node is judged on the other; the same list slice sent through both nodes at once is
 * answered once. Two nodes in this process on one PostgreSQL database and one Redis.
 */
const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const [pgUp, redisUp] = await Promise.all([postgresAvailable(), redisAvailable()]);
const skip = (!pgUp || !redisUp) && !requireServices;
if (skip) console.warn(`\n*** first-sync-multinode needs PostgreSQL and Redis: SKIPPED (CI runs it) ***\n`);

const POLICY: Policy = answersRulePolicy('first-sync-multinode');

(skip ? describe.skip : describe)('one unjudged first sync per account across two nodes', () => {
  const prefix = uniquePrefix('first-sync-mn');
  let a: TestService;
  let b: Service;

  beforeAll(async () => {
    a = await startTestService('postgres', { trustedProxies: '127.0.0.1', redisUrl: REDIS_URL }, { policy: compilePolicy(POLICY), ipIntel: intel, redisPrefix: prefix });
    b = await createService(a.config, a.secrets, { clock: a.clock, random: new SeededRandom(43), logger: createLogger('silent'), policy: compilePolicy(POLICY), ipIntel: intel, redisPrefix: prefix, migrate: false });
    const members = memberLines();
    expect((await importLines(a, members)).json()).toMatchObject({ accounts: MEMBERS, failed: 0 });
    await a.ctx.db.kysely.insertInto('hit_rates').values({ country: 'GB', numbers: 1_000_000, matched: 150_000, updated_at: T0 }).execute();
  });
  afterAll(async () => {
    await b?.close();
    await a?.stop();
    const client = redisClient();
    await deleteByPrefix(client, prefix);
    client.disconnect();
  });

  const syncAs = async (svc: Service, account: string, contacts: string[]) =>
    svc.app.inject({
      method: 'POST',
      url: '/v1/discovery/sync',
      remoteAddress: '127.0.0.1',
      headers: { authorization: `Bearer ${await a.tokenFor(account)}`, 'x-forwarded-for': HOME_IP },
      payload: { contacts },
    });
  const newAccount = (id: string) => mirrorAccount(a, id, [], { createdAt: new Date(a.clock.now() - DAY).toISOString(), phoneRegion: 'GB' });

  it('a first sync spent through one node is not given again by the other', async () => {
    await newAccount('sleeper');
    a.clock.advance(1000);
    expect((await syncAs(a, 'sleeper', range(8, stranger, 600))).statusCode).toBe(200);
    a.clock.advance(1000);
    const other = await syncAs(b, 'sleeper', SLICE);
    expect(other.json().matches?.length ?? 0).toBe(0);
    expect(other.statusCode).toBe(429);
  });

  it('the same slice sent through both nodes at once is answered once', async () => {
    await newAccount('racer');
    a.clock.advance(1000);
    const both = await Promise.all([syncAs(a, 'racer', SLICE), syncAs(b, 'racer', SLICE)]);
    expect(both.map((r) => r.statusCode).sort()).toEqual([200, 429]);
    expect(both.map((r) => r.json().matches?.length ?? 0).sort((x, y) => x - y)).toEqual([0, 100]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/main.js';
import { ipIntelFromRanges } from '../src/net/index.js';
import { compilePolicy, DEFAULT_ABUSE_POLICY, type Policy } from '../src/policy/index.js';
import { SeededRandom } from '../src/util/random.js';
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

const DAY = 86_400_000;
const HOME_IP = '198.51.100.7';
const intel = ipIntelFromRanges([{ cidr: '198.51.100.0/24', country: 'GB', asn: 64501, asName: 'Example Broadband' }]);
/** The answers rule enforced, an engine that never acts on its own, a budget that never binds here. */
const POLICY: Policy = {
  name: 'first-sync-multinode',
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
/** A leaked list's slice: 100 members and 50 strangers, far above a British book's 15%. */
const SLICE = [...range(100, member), ...range(50, stranger)];

(skip ? describe.skip : describe)('one unjudged first sync per account across two nodes', () => {
  const prefix = uniquePrefix('first-sync-mn');
  let a: TestService;
  let b: Service;

  beforeAll(async () => {
    a = await startTestService('postgres', { trustedProxies: '127.0.0.1', redisUrl: REDIS_URL }, { policy: compilePolicy(POLICY), ipIntel: intel, redisPrefix: prefix });
    b = await createService(a.config, a.secrets, { clock: a.clock, random: new SeededRandom(43), logger: createLogger('silent'), policy: compilePolicy(POLICY), ipIntel: intel, redisPrefix: prefix, migrate: false });
    const members = Array.from({ length: MEMBERS }, (_, i) => ({ accountId: `m${i}`, handle: `m${i}`, createdAt: new Date(T0 - 400 * DAY).toISOString(), contactPoints: [{ kind: 'phone', value: member(i), purposes: ['discovery'], verified: true }] }));
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

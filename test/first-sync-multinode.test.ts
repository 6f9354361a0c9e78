import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../src/main.js';
import { DAY, HOME_IP, range, SLICE, stranger } from './helpers/answers-rule.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { postgresAvailable } from './helpers/postgres.js';
import { redisAvailable } from './helpers/redis.js';
import { startAnswersRuleNodes } from './helpers/answers-rule-nodes.js';
import type { TestService } from './helpers/service.js';

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

(skip ? describe.skip : describe)('one unjudged first sync per account across two nodes', () => {
  let a: TestService;
  let b: Service;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ a, b, close } = await startAnswersRuleNodes('first-sync-multinode', 43));
  });
  afterAll(async () => close?.());

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

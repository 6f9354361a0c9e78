import { expect } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createService, type Service } from '../../src/main.js';
import { compilePolicy } from '../../src/policy/index.js';
import { SeededRandom } from '../../src/util/random.js';
import { answersRulePolicy, intel, MEMBERS, memberLines } from './answers-rule.js';
import { importLines } from './fixtures.js';
import { deleteByPrefix, REDIS_URL, redisClient, uniquePrefix } from './redis.js';
import { startTestService, T0, type TestService } from './service.js';

/**
 * Two serving nodes in this process on one PostgreSQL database and one Redis, with the answers
 * rule's setting (answers-rule.ts): the members imported and British books hitting 15%. `a` is the
 * test service (its clock drives both), `b` a second node of the same deployment.
 */
export async function startAnswersRuleNodes(name: string, seed: number): Promise<{ a: TestService; b: Service; close: () => Promise<void> }> {
  const prefix = uniquePrefix(name);
  const policy = compilePolicy(answersRulePolicy(name));
  const a = await startTestService('postgres', { trustedProxies: '127.0.0.1', redisUrl: REDIS_URL }, { policy, ipIntel: intel, redisPrefix: prefix });
  const b = await createService(a.config, a.secrets, { clock: a.clock, random: new SeededRandom(seed), logger: createLogger('silent'), policy, ipIntel: intel, redisPrefix: prefix, migrate: false });
  expect((await importLines(a, memberLines())).json()).toMatchObject({ accounts: MEMBERS, failed: 0 });
  await a.ctx.db.kysely.insertInto('hit_rates').values({ country: 'GB', numbers: 1_000_000, matched: 150_000, updated_at: T0 }).execute();
  const close = async () => {
    await b.close();
    await a.stop();
    const client = redisClient();
    await deleteByPrefix(client, prefix);
    client.disconnect();
  };
  return { a, b, close };
}

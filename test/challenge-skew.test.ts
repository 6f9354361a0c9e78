import { afterAll, beforeAll, expect, it } from 'vitest';
import { solveChallenge } from '../src/client/challenge.js';
import { Challenges } from '../src/limits/challenges.js';
import { createRedisLimitStore, type RedisLimitStore } from '../src/limits/redis-store.js';
import { formatProof } from '../src/protocol/challenge.js';
import { SeededRandom } from '../src/util/random.js';
import { sleep } from './helpers/processes.js';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from './helpers/redis.js';

/**
 * A proof of work is good once, on every node. Its used mark in Redis lived until the proof's
 * expiry by the redeeming node's clock (plus a second): redeemed first on a node whose clock ran
 * ahead, the mark expired while a node whose clock was behind still took the proof as unexpired,
 * and it bought a second call (found in review of the clock-skew fix). The mark now outlives the
 * proof by the clock skew findguard tolerates.
 */
const prefix = uniquePrefix('challenge-skew');

describeRedis('a proof of work across nodes whose clocks disagree', () => {
  let store: RedisLimitStore;
  beforeAll(() => {
    store = createRedisLimitStore(REDIS_URL, { prefix });
  });
  afterAll(async () => {
    await store?.close();
    const client = redisClient();
    await deleteByPrefix(client, prefix);
    client.disconnect();
  });

  it('redeemed on a node 60 s ahead, it is refused on a node on time after the first one’s mark would have gone', async () => {
    const keys = [{ version: 1, key: Buffer.alloc(32, 3) }];
    const ahead = new Challenges(keys, new SeededRandom(1), store);
    const onTime = new Challenges(keys, new SeededRandom(2), store);
    const now = Date.now();
    // Issued by the node on time, good for 62 s: the node 60 s ahead still takes it.
    const challenge = onTime.issue('acct', 2, 62_000, now);
    const { nonce } = await solveChallenge(challenge);
    const header = formatProof(challenge.id, nonce);
    expect(await ahead.redeem('acct', header, 1, now + 60_000)).toBe(true);
    // By the node ahead the proof has a second or two left: its mark used to live that long.
    await sleep(3_500);
    expect(await onTime.redeem('acct', header, 1, Date.now())).toBe(false);
  });
});

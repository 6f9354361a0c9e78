import { afterAll, expect, it } from 'vitest';
import { EventsUnavailableError } from '../src/abuse/bus.js';
import { ANSWERS_SHARE } from '../src/abuse/stream-backlog.js';
import { makeEvent } from './helpers/events.js';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from './helpers/redis.js';
import { startTestService, type TestService } from './helpers/service.js';

/**
 * FINDGUARD_EVENT_STREAM_MAX_LENGTH reaches the serve node's publisher: how long the workers may
 * fall behind before answered calls fail closed is the operator's to size (the default 2,000,000
 * entries is 20 s at 100,000 events/s). A serve node with no worker behind it and a cap of 1,000
 * accepts answers until 90% of that cap, then refuses to answer without a record.
 */

const CAP = 1000;

describeRedis('FINDGUARD_EVENT_STREAM_MAX_LENGTH', () => {
  const prefix = uniquePrefix('streamcap');
  const redis = redisClient();
  let svc: TestService | undefined;
  afterAll(async () => {
    await svc?.stop();
    await deleteByPrefix(redis, prefix);
    redis.disconnect();
  });

  it('sets where answered calls fail closed on a serve node', async () => {
    svc = await startTestService('sqlite', { redisUrl: REDIS_URL, policy: 'none', eventStreamMaxLength: String(CAP) }, { redisPrefix: prefix });
    expect(svc.config.eventStreamMaxLength).toBe(CAP);
    let accepted = 0;
    let failed: unknown;
    for (let i = 0; i < CAP; i++) {
      try {
        await svc.ctx.events.emitDurable(makeEvent(i, { accountId: 'one-caller', matched: 1, revealed: ['someone'] }));
        accepted++;
      } catch (err) {
        failed = err;
        break;
      }
    }
    expect(failed).toBeInstanceOf(EventsUnavailableError);
    // Refused at the answers' bar of this cap, not of the default one (which 1,000 entries never reach).
    expect(accepted).toBeGreaterThanOrEqual(CAP * ANSWERS_SHARE);
    expect(accepted).toBeLessThan(CAP);
    expect(await redis.xlen(`${prefix}events`)).toBe(accepted);
  });
});

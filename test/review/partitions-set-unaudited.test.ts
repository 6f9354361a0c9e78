import { afterAll, beforeAll, expect, it } from 'vitest';
import { fleetPartitionsKey } from '../../src/abuse/fleet-partitions.js';
import { listAudit } from '../../src/incidents/index.js';
import { startCliHarness, type CliHarness } from '../helpers/cli.js';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from '../helpers/redis.js';

/**
 * Review: `findguard events partitions --set N` changes what every serving node does (nodes on
 * another P fail every answered discovery call closed, 503, and publish nothing), as
 * `findguard limits accept-redis-reset` does the other way round. The latter is audit-logged with
 * its reason; the former writes nothing to the audit trail, takes no reason, and the change is
 * nowhere on record (README: "every operator action ... is appended to audit_log").
 */
describeRedis('review: changing the fleet partition count is audited', () => {
  const prefix = uniquePrefix('partitions-audit');
  const stream = `${prefix}events`;
  const redis = redisClient();
  let cli: CliHarness;

  beforeAll(async () => {
    cli = await startCliHarness('sqlite', 'partitions-audit', { FINDGUARD_REDIS_URL: REDIS_URL, USER: 'ops-alice' });
  }, 60_000);
  afterAll(async () => {
    await cli?.close();
    await deleteByPrefix(redis, prefix);
    redis.disconnect();
  });

  it('`events partitions --set` leaves an entry in the audit trail', async () => {
    await redis.set(fleetPartitionsKey(stream), '1');
    const set = await cli.run('events', 'partitions', '--stream', stream, '--set', '4');
    expect(set.lines.join('\n')).toContain('1 -> 4');
    expect(await redis.get(fleetPartitionsKey(stream))).toBe('4');

    const entries = await cli.withCtx((ctx) => listAudit(ctx.db.kysely, { limit: 50 }));
    const change = entries.find((e) => /partition/i.test(`${e.action} ${e.subject}`));
    expect(change, `audit actions: ${entries.map((e) => e.action).join(', ') || 'none'}`).toBeDefined();
    expect(change).toMatchObject({ before: expect.anything(), after: expect.anything() });
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FleetPartitionsWatch, fleetPartitionsKey, requireFleetPartitions } from '../src/abuse/fleet-partitions.js';
import { buildSettings } from '../src/config/config.js';
import { ConfigError } from '../src/config/errors.js';
import { createWorkerContext } from '../src/context.js';
import { createLogger } from '../src/logger.js';
import { startCliHarness, type CliHarness } from './helpers/cli.js';
import { lookup, mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from './helpers/redis.js';
import { HASH_KEYS, JWT_SECRET, SERVICE_KEY, startTestService, type TestService } from './helpers/service.js';

/**
 * The fleet's FINDGUARD_EVENT_PARTITIONS kept in Redis (src/abuse/fleet-partitions.ts): a worker
 * claims it and refuses to start on another P, a serve node refuses to start on another and fails
 * answered calls closed (503) while the key differs from its own, the operator changes it with
 * `findguard events partitions --set`, and a worker puts it back after a Redis reset.
 * (test/review/partition-count-mismatch is the fleet in a rolling deploy.)
 */

const quiet = createLogger('silent');
const until = async (what: () => Promise<boolean>, ms = 5000): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
};

describeRedis('the fleet\'s event partition count', () => {
  const prefix = uniquePrefix('fleet-partitions');
  const stream = `${prefix}events`;
  const key = fleetPartitionsKey(stream);
  const redis = redisClient();
  const dir = mkdtempSync(join(tmpdir(), 'fg-fleet-partitions-'));
  let svc: TestService;
  let cli: CliHarness;

  beforeAll(async () => {
    svc = await startTestService('sqlite', { redisUrl: REDIS_URL, policy: 'none' }, { redisPrefix: prefix });
    await mirrorAccount(svc, 'alice', [{ value: NUMBERS.usA, purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'mallory', [{ value: NUMBERS.gbA, purposes: ['two_factor'] }]);
    cli = await startCliHarness('sqlite', 'fleet-partitions', { FINDGUARD_REDIS_URL: REDIS_URL });
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
    await cli?.close();
    await deleteByPrefix(redis, prefix);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  const answer = async () => (await lookup(svc, await svc.tokenFor('mallory'), { phone: NUMBERS.usA })).statusCode;

  it('a serve node publishes while the key is unset (no worker yet), and a worker on its P claims it', async () => {
    expect(await answer()).toBe(200);
    expect(await redis.get(key)).toBeNull();
    const databaseUrl = `sqlite:${join(svc.dataDir, 'findguard.sqlite')}`;
    const { config, secrets } = buildSettings({ dataDir: dir, databaseUrl, redisUrl: REDIS_URL, serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET, hashKeys: HASH_KEYS, policy: 'none', logLevel: 'silent' }, dir);
    const worker = await createWorkerContext(config, secrets, { redisPrefix: prefix, logger: quiet, events: { consumer: 'fleet-w1' } });
    await worker.close();
    expect(await redis.get(key)).toBe('1');
  }, 30_000);

  it('a worker on another P refuses to start, naming FINDGUARD_EVENT_PARTITIONS', async () => {
    const { config, secrets } = buildSettings({ dataDir: dir, redisUrl: REDIS_URL, serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET, hashKeys: HASH_KEYS, policy: 'none', logLevel: 'silent', eventPartitions: '2' }, dir);
    const started = createWorkerContext(config, secrets, { redisPrefix: prefix, logger: quiet, events: { consumer: 'fleet-w2' } });
    await expect(started).rejects.toBeInstanceOf(ConfigError);
    await expect(started).rejects.toThrow(/FINDGUARD_EVENT_PARTITIONS: is 2 on this worker, but .* partitioned 1 way/);
    // `findguard serve` makes the same check before it starts anything.
    await expect(requireFleetPartitions(REDIS_URL, stream, 2, 'serve node', quiet)).rejects.toThrow(/FINDGUARD_EVENT_PARTITIONS: is 2 on this serve node/);
    await expect(requireFleetPartitions(REDIS_URL, stream, 1, 'serve node', quiet)).resolves.toBeUndefined();
    expect(await redis.get(key)).toBe('1');
  }, 30_000);

  it('`events partitions --set` changes it: a serve node on the old P fails answered calls closed (503) within a second, and answers again once they agree', async () => {
    const set = await cli.run('events', 'partitions', '--stream', stream, '--set', '2');
    expect(set.lines.join('\n')).toContain(`fleet partitions (${key}): 1 -> 2`);
    expect(await redis.get(key)).toBe('2');
    expect(await until(async () => (await answer()) === 503)).toBe(true);
    expect(svc.logs.text).toContain('FINDGUARD_EVENT_PARTITIONS is 1 on this process');
    // Nothing of this node's reaches the old stream meanwhile: its answers and refusals are withheld.
    const before = await redis.xlen(stream);
    expect(await answer()).toBe(503);
    expect(await redis.xlen(stream)).toBe(before);
    const status = await cli.run('events', 'partitions', '--stream', stream);
    expect(status.lines[0]).toBe(`fleet partitions (${key}): 2`);
    await cli.run('events', 'partitions', '--stream', stream, '--set', '1');
    expect(await until(async () => (await answer()) === 200)).toBe(true);
  }, 30_000);

  it('after a Redis reset (the key gone) the serve node still answers, and a running worker sets the key again', async () => {
    await redis.del(key);
    expect(await answer()).toBe(200);
    const watch = new FleetPartitionsWatch(REDIS_URL, stream, 1, quiet, 100);
    watch.start();
    try {
      expect(await until(async () => (await redis.get(key)) === '1')).toBe(true);
    } finally {
      await watch.stop();
    }
  }, 30_000);
});

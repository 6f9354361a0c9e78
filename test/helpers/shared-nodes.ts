import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import type { JwtConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { buildSettings, createService, type Service } from '../../src/main.js';
import type { CompiledPolicy } from '../../src/policy/index.js';
import type { Clock, ManualClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';
import { createTestDatabase, postgresAvailable } from './postgres.js';
import { deleteByPrefix, REDIS_URL, redisAvailable, redisClient } from './redis.js';
import { HASH_KEYS, JWT_SECRET, SERVICE_KEY } from './service.js';

const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const [pgUp, redisUp] = await Promise.all([postgresAvailable(), redisAvailable()]);

/** A suite of serving nodes over one PostgreSQL and one Redis: skipped with a notice when either is missing, unless CI requires them. */
export function describeSharedNodes(name: string, fn: () => void): void {
  const skip = (!pgUp || !redisUp) && !requireServices;
  if (skip) console.warn(`\n*** ${name} needs PostgreSQL and Redis: SKIPPED (CI runs it) ***\n`);
  (skip ? describe.skip : describe)(name, fn);
}

export interface SharedNodes {
  nodes: Service[];
  jwt: JwtConfig;
  /** Stops node i and starts it again on the same settings (a deploy, a crash and restart): nodes[i] is the new one. */
  restart(i: number): Promise<Service>;
  close(): Promise<void>;
}

/**
 * `count` serving nodes as a scaled-out deployment runs them: one fresh PostgreSQL database, one
 * Redis (keys under `prefix`), policy `none`, the given clock; the first node migrates.
 */
export async function startSharedNodes(opts: {
  prefix: string;
  clock: ManualClock;
  seedBase: number;
  count?: number;
  policy?: CompiledPolicy;
  /** Node i's clock reads the given clock plus skewMs[i] (nodes whose clocks disagree). */
  skewMs?: readonly number[];
}): Promise<SharedNodes> {
  const dataDir = mkdtempSync(join(tmpdir(), 'findguard-shared-nodes-'));
  const pg = await createTestDatabase();
  const { config, secrets } = buildSettings(
    { dataDir, databaseUrl: pg.url, redisUrl: REDIS_URL, serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET, hashKeys: HASH_KEYS, policy: 'none', logLevel: 'silent' },
    dataDir,
  );
  const nodes: Service[] = [];
  let starts = 0;
  const clockOf = (i: number): Clock => {
    const skew = opts.skewMs?.[i] ?? 0;
    return skew === 0 ? opts.clock : { now: () => opts.clock.now() + skew };
  };
  const start = (migrate: boolean, i: number) =>
    createService(config, secrets, { clock: clockOf(i), random: new SeededRandom(opts.seedBase + starts++), logger: createLogger('silent'), redisPrefix: opts.prefix, migrate, ...(opts.policy ? { policy: opts.policy } : {}) });
  for (let i = 0; i < (opts.count ?? 2); i++) nodes.push(await start(i === 0, i));
  return {
    nodes,
    jwt: secrets.jwt,
    restart: async (i) => {
      await nodes[i]!.close();
      nodes[i] = await start(false, i);
      return nodes[i]!;
    },
    close: async () => {
      for (const n of nodes) await n.close();
      const client = redisClient();
      await deleteByPrefix(client, opts.prefix);
      client.disconnect();
      await pg.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

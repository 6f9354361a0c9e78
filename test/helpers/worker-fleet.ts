import type { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, killProcess, spawnCli, waitForOutput, type Spawned } from './processes.js';
import { deleteByPrefix, REDIS_URL, redisClient, uniquePrefix } from './redis.js';
import { HASH_KEYS, JWT_SECRET, SERVICE_KEY, startTestService, type TestService } from './service.js';

/**
 * A serving node on PostgreSQL publishing its events to Redis, and `findguard worker` processes on
 * the same database and streams, each test with streams of its own: what the worker tests deploy.
 */
export interface WorkerFleet {
  svc: TestService;
  /** The events stream key the serving node publishes to (partition p: `${stream}:${p}`). */
  stream: string;
  redis: Redis;
  /** What a worker process is started with. */
  env: Record<string, string>;
  /** Starts a worker consuming `stream`, once it says it is consuming. */
  startWorker(name: string, args?: string[]): Promise<Spawned>;
  /** Entries delivered and not yet acknowledged on a stream's group. */
  pending(key: string, group: string): Promise<number>;
  close(): Promise<void>;
}

/** What a `findguard worker` beside the serving node `svc` (PostgreSQL, Redis) is started with, its data in `dataDir`. */
export function workerEnvFor(svc: TestService, dataDir: string): Record<string, string> {
  return {
    FINDGUARD_DATA_DIR: dataDir,
    FINDGUARD_DATABASE_URL: svc.databaseUrl!,
    FINDGUARD_REDIS_URL: REDIS_URL,
    FINDGUARD_HASH_KEYS: HASH_KEYS,
    FINDGUARD_SERVICE_KEY: SERVICE_KEY,
    FINDGUARD_JWT_SECRET: JWT_SECRET,
  };
}

/** `partitions`: FINDGUARD_EVENT_PARTITIONS of the node and the workers; `workerEnv`: more for the workers. */
export async function startWorkerFleet(name: string, opts: { partitions?: number; workerEnv?: Record<string, string> } = {}): Promise<WorkerFleet> {
  await ensureBuilt();
  const prefix = uniquePrefix(name);
  const stream = `${prefix}events`;
  const redis = redisClient();
  const partitions = opts.partitions !== undefined ? String(opts.partitions) : undefined;
  const svc = await startTestService('postgres', { redisUrl: REDIS_URL, ...(partitions ? { eventPartitions: partitions } : {}) }, { redisPrefix: prefix });
  const dataDir = mkdtempSync(join(tmpdir(), `findguard-${name}-`));
  const workerEnv = { ...workerEnvFor(svc, dataDir), ...(partitions ? { FINDGUARD_EVENT_PARTITIONS: partitions } : {}), ...opts.workerEnv };
  const workers: Spawned[] = [];
  return {
    svc,
    stream,
    redis,
    env: workerEnv,
    async startWorker(worker, args = []) {
      const w = spawnCli(['worker', '--consumer', worker, '--stream', stream, ...args], workerEnv);
      workers.push(w);
      await waitForOutput(w, /consuming/, 30_000);
      return w;
    },
    async pending(key, group) {
      const summary = (await redis.call('XPENDING', key, group)) as unknown[];
      return Number(summary[0]);
    },
    async close() {
      for (const w of workers) await killProcess(w);
      await svc.stop();
      await deleteByPrefix(redis, prefix);
      redis.disconnect();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

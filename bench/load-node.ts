/**
 * One process of `npm run bench:load` (bench/load.ts): `serve` is a findguard serving node on the
 * shared PostgreSQL database and Redis, listening on a port of its own; `worker` is a
 * `findguard worker` (createWorkerContext, as the CLI builds it) on the same. Both on the system
 * clock, with the bench's policy (bench/server.ts `unreachable`: every layer evaluated and charged
 * in Redis, the engine's real-time rules watching without refusing) and one Redis key prefix per
 * run. Each prints one JSON line when ready; a worker answers "cpu" on stdin with its CPU time.
 */
import { createInterface } from 'node:readline';
import { buildSettings } from '../src/config/config.js';
import { createWorkerContext } from '../src/context.js';
import { createLogger } from '../src/logger.js';
import { createService } from '../src/main.js';
import { compilePolicy } from '../src/policy/index.js';
import { unreachable } from './policy.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const role = process.argv[2];
const { config, secrets } = buildSettings(
  {
    dataDir: env('LOAD_DATA_DIR'),
    logLevel: 'warn',
    port: '0',
    trustedProxies: '127.0.0.1',
    redisUrl: env('LOAD_REDIS_URL'),
    databaseUrl: env('LOAD_DATABASE_URL'),
    eventPartitions: env('LOAD_PARTITIONS'),
    hashKeys: `v1:${Buffer.alloc(32, 7).toString('base64')}`,
    serviceKey: 'bench-service-key-0123456789abcdef',
    jwtSecret: 'bench-jwt-secret-0123456789abcdef0123',
  },
  env('LOAD_DATA_DIR'),
);
const common = { logger: createLogger('warn'), policy: compilePolicy(unreachable(), 'bench'), redisPrefix: env('LOAD_REDIS_PREFIX') };

if (role === 'serve') {
  const service = await createService(config, secrets, { ...common, migrate: false });
  const address = await service.app.listen({ host: '127.0.0.1', port: 0 });
  console.log(JSON.stringify({ ready: true, address }));
} else if (role === 'worker') {
  const ctx = await createWorkerContext(config, secrets, { ...common, events: { consumer: env('LOAD_CONSUMER') } });
  ctx.start();
  console.log(JSON.stringify({ ready: true }));
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'cpu') {
      const c = process.cpuUsage();
      console.log(JSON.stringify({ cpuUs: c.user + c.system }));
    }
  }
} else {
  throw new Error(`unknown role ${role}`);
}
process.on('SIGTERM', () => process.exit(0));

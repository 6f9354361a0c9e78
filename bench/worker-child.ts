/**
 * One `findguard worker` for `npm run bench:worker`'s partitions comparison, in a process of its
 * own (two workers on two cores must be two processes): the worker context as `findguard worker`
 * builds it, started when the parent writes "go" (so every worker of a run starts together), its
 * stored-events counter printed every 100 ms, and its CPU time printed when told to stop.
 */
import { createInterface } from 'node:readline';
import { buildSettings } from '../src/config/config.js';
import { createWorkerContext } from '../src/context.js';
import { createLogger } from '../src/logger.js';
import { ManualClock } from '../src/util/clock.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const dataDir = env('BENCH_DATA_DIR');
const { config, secrets } = buildSettings(
  {
    dataDir,
    logLevel: 'warn',
    redisUrl: env('BENCH_REDIS_URL'),
    databaseUrl: env('BENCH_CHILD_DATABASE_URL'),
    eventPartitions: env('BENCH_CHILD_PARTITIONS'),
    hashKeys: `v1:${Buffer.alloc(32, 7).toString('base64')}`,
    serviceKey: 'bench-service-key-0123456789abcdef',
    jwtSecret: 'bench-jwt-secret-0123456789abcdef0123',
  },
  dataDir,
);
const ctx = await createWorkerContext(config, secrets, {
  logger: createLogger('warn'),
  clock: new ManualClock(Number(env('BENCH_CHILD_NOW'))),
  events: { streamKey: env('BENCH_CHILD_STREAM'), consumer: env('BENCH_CHILD_CONSUMER') },
});
const counter = ctx.metrics.registry.getSingleMetric('findguard_events_stored_total');
const lines = createInterface({ input: process.stdin });
console.log('ready');
let cpuAtGo = process.cpuUsage();
let timer: NodeJS.Timeout | undefined;
for await (const line of lines) {
  if (line === 'go') {
    cpuAtGo = process.cpuUsage();
    ctx.start();
    timer = setInterval(() => {
      void counter!.get().then((m) => console.log(JSON.stringify({ stored: m.values[0]?.value ?? 0 })));
    }, 100);
  } else if (line === 'stop') {
    clearInterval(timer);
    const cpu = process.cpuUsage(cpuAtGo);
    console.log(JSON.stringify({ stored: (await counter!.get()).values[0]?.value ?? 0, cpuUs: cpu.user + cpu.system }));
    await ctx.close();
    break;
  }
}
process.exit(0);

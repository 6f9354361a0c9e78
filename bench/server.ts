/**
 * A server for the benchmark, in its own process so the load generator does not share its core:
 * `hello` is bare Fastify; `floor` is bare Fastify serving the lookup route with findguard's own
 * directory read only (schema check, normalise, HMAC, one indexed SQLite read on the seeded
 * population: no authentication, limits, lookup event or request log), the most any lookup served
 * through Fastify can do on this machine; `findguard` is the embedded default seeded with a
 * population, run with no limits (`none`), or with the default policy's layers, tiers and breaker
 * at budgets no call reaches (`limits`: every layer is evaluated and charged, nothing is refused), in memory
 * or in Redis (third argument: a Redis URL). `--events-fire-and-forget`: answered calls do not
 * wait for their lookup event to be durable, as before they did (the bench's before/after only).
 */
import Fastify from 'fastify';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedDirectory } from '../src/cli/seeding.js';
import { buildSettings } from '../src/config/config.js';
import { signDevToken } from '../src/http/auth/jwt.js';
import { compilePolicy, loadPolicy } from '../src/policy/index.js';
import { unreachable } from './policy.js';
import { createLogger } from '../src/logger.js';
import { createService } from '../src/main.js';
import { LookupBody, LookupResponse } from '../src/discovery/schemas.js';

const args = process.argv.slice(2);
const [kind, accountsArg, policyArg, redisUrl] = args.filter((a) => !a.startsWith('--'));
/** The behaviour before answered calls waited for their lookup event to be durable: the before/after of its cost. */
const fireAndForget = args.includes('--events-fire-and-forget');
export const CALLERS = 64;

if (kind === 'hello') {
  const app = Fastify();
  app.get('/', async () => ({ hello: 'world' }));
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  process.send?.({ ready: true, address });
} else {
  const dataDir = mkdtempSync(join(tmpdir(), 'findguard-bench-'));
  const { config, secrets } = buildSettings(
    { dataDir, logLevel: 'warn', port: '0', trustedProxies: '127.0.0.1', ...(redisUrl ? { redisUrl } : {}) },
    dataDir,
  );
  const policy = policyArg === 'limits' ? compilePolicy(unreachable(), 'bench') : loadPolicy('none');
  const service = await createService(config, secrets, {
    logger: createLogger('warn'),
    policy,
    redisPrefix: `fg:bench:${process.pid}:`,
    ...(fireAndForget ? { events: { durable: false } } : {}),
  });
  const accounts = Number(accountsArg ?? 100_000);
  const { population } = await seedDirectory(service.ctx, { accounts, seed: 1, now: Date.now() });
  if (kind === 'floor') {
    const app = Fastify();
    const { discovery } = service.ctx;
    // The floor answers as a real account, so the match reads the caller as findguard's own does.
    let first = 0;
    while (population.account(first).status !== 'active') first++;
    const floorId = population.account(first).id;
    const floorCaller = { accountId: floorId, mirroredAt: (await discovery.authorizeCaller(floorId)).mirroredAt };
    app.post<{ Body: LookupBody }>('/v1/discovery/lookup', { schema: { body: LookupBody, response: { 200: LookupResponse } } }, async (request) =>
      discovery.completeLookup(discovery.prepareLookup(request.body), floorCaller),
    );
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    process.send?.({ ready: true, address, tokens: ['unused'] });
  } else {
    const tokens: string[] = [];
    for (let i = 0; tokens.length < CALLERS; i++) {
      const a = population.account(i);
      if (a.status === 'active') tokens.push(await signDevToken(secrets.jwt, a.id, Date.now(), 3600));
    }
    const address = await service.app.listen({ host: '127.0.0.1', port: 0 });
    process.send?.({ ready: true, address, tokens });
  }
}
process.on('SIGINT', () => process.exit(0));

// BENCH_CPU_PROF (bench/run.ts): a V8 CPU profile of each measured run alone, without start-up or seeding.
const profileDir = process.env.BENCH_CPU_PROF;
if (profileDir) {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  process.on('message', (m: { profile?: 'start' | 'stop'; name?: string }) => {
    void (async () => {
      if (m.profile === 'start') await session.post('Profiler.start');
      if (m.profile === 'stop') {
        const { profile } = await session.post('Profiler.stop');
        const name = `${kind}-${policyArg ?? ''}-${(m.name ?? 'run').replace(/[^a-z0-9]+/gi, '-')}-${process.pid}.cpuprofile`;
        mkdirSync(profileDir, { recursive: true });
        writeFileSync(join(profileDir, name), JSON.stringify(profile));
      }
      process.send?.({ profiled: m.profile });
    })();
  });
}

/**
 * A server for the benchmark, in its own process so the load generator does not share its core:
 * `hello` is bare Fastify, `findguard` is the embedded default seeded with a population.
 */
import Fastify from 'fastify';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedDirectory } from '../src/cli/seeding.js';
import { buildConfig } from '../src/config/config.js';
import { signDevToken } from '../src/http/auth/jwt.js';
import { createLogger } from '../src/logger.js';
import { createService } from '../src/main.js';

const [kind, accountsArg] = process.argv.slice(2);

if (kind === 'hello') {
  const app = Fastify();
  app.get('/', async () => ({ hello: 'world' }));
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  process.send?.({ ready: true, address });
} else {
  const dataDir = mkdtempSync(join(tmpdir(), 'findguard-bench-'));
  const config = buildConfig({ dataDir, logLevel: 'warn', port: '0' }, dataDir);
  const service = await createService(config, { logger: createLogger('warn') });
  const accounts = Number(accountsArg ?? 100_000);
  const { population } = await seedDirectory(service.ctx, { accounts, seed: 1, now: Date.now() });
  const searcher = population.account(0);
  const token = await signDevToken(config.jwt, searcher.id, Date.now(), 3600);
  const address = await service.app.listen({ host: '127.0.0.1', port: 0 });
  process.send?.({ ready: true, address, token, accounts, seed: 1, now: 0, dataDir });
}
process.on('SIGINT', () => process.exit(0));

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildSettings, type Settings } from '../src/config/config.js';
import { createAppContext, createCliContext, createWorkerContext, migrate } from '../src/context.js';
import { openDb } from '../src/db/dialect.js';
import { createLogger } from '../src/logger.js';
import { describeRedis, redisClient, REDIS_URL, uniquePrefix, deleteByPrefix } from './helpers/redis.js';
import { HASH_KEYS, JWT_SECRET, SERVICE_KEY } from './helpers/service.js';

/**
 * One context per process role on a shared core (atproto ozone's AppContext / DaemonContext):
 * building one migrates nothing and starts nothing; a CLI command's never consumes, deletes or
 * delivers; secrets are an object of their own, never part of what a Config prints.
 */
const silent = createLogger('silent');
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!();
});

function settings(extra: Record<string, string> = {}): Settings & { dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'findguard-ctx-'));
  closers.push(async () => rmSync(dir, { recursive: true, force: true }));
  return { dir, ...buildSettings({ dataDir: dir, serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET, hashKeys: HASH_KEYS, ...extra }, dir) };
}

async function migrated({ config }: Settings): Promise<void> {
  const db = openDb(config.database);
  await migrate(db, silent);
  await db.close();
}

describe('contexts are built, then started, then closed', () => {
  it('no role migrates when built: on a new database each refuses and names `findguard migrate`', async () => {
    const s = settings();
    for (const build of [() => createAppContext(s.config, s.secrets, { logger: silent, matchWorkers: 0 }), () => createCliContext(s.config, s.secrets, { logger: silent })]) {
      await expect(build()).rejects.toThrow(/migration\(s\) pending.*run `findguard migrate`/);
    }
    const db = openDb(s.config.database);
    const tables = await db.kysely.introspection.getTables();
    await db.close();
    expect(tables.map((t) => t.name)).not.toContain('accounts');
  });

  it('after the explicit step, a serving context builds and reads no decisions until start()', async () => {
    const s = settings();
    await migrated(s);
    const ctx = await createAppContext(s.config, s.secrets, { logger: silent, matchWorkers: 0 });
    closers.push(() => ctx.close());
    // Not started: this node cannot vouch for the standing decisions yet.
    expect(ctx.incidents.decisions.readable()).toBe(false);
    await ctx.start();
    expect(ctx.incidents.decisions.readable()).toBe(true);
  });

  it('a CLI context never delivers webhooks, though the configuration names a receiver', async () => {
    const s = settings({ webhookUrl: 'http://127.0.0.1:9/hook', webhookSecret: 'a-webhook-secret-of-16+' });
    await migrated(s);
    const cli = await createCliContext(s.config, s.secrets, { logger: silent });
    closers.push(() => cli.close());
    expect(cli.incidents.deliverer).toBeUndefined();
    const serve = await createAppContext(s.config, s.secrets, { logger: silent, matchWorkers: 0 });
    closers.push(() => serve.close());
    expect(serve.incidents.deliverer).toBeDefined();
  });

  it('secrets are their own object: nothing of them is in the configuration', () => {
    const s = settings({ webhookUrl: 'http://127.0.0.1:9/hook', webhookSecret: 'a-webhook-secret-of-16+' });
    const printed = JSON.stringify(s.config);
    for (const secret of [SERVICE_KEY, JWT_SECRET, HASH_KEYS.slice(3), 'a-webhook-secret-of-16+']) expect(printed).not.toContain(secret);
    expect(s.secrets.serviceKey).toBe(SERVICE_KEY);
    expect(s.secrets.webhookSecret).toBe('a-webhook-secret-of-16+');
  });
});

describeRedis('a worker context starts its background work only when told', () => {
  const redis = redisClient();
  const prefix = uniquePrefix('context-start');
  afterEach(() => deleteByPrefix(redis, prefix));
  afterAll(() => redis.quit());

  it('joins the consumer group on start(), not when built', async () => {
    const s = settings({ redisUrl: REDIS_URL });
    await migrated(s);
    const stream = `${prefix}events`;
    const ctx = await createWorkerContext(s.config, s.secrets, { logger: silent, redisPrefix: prefix, events: { streamKey: stream, consumer: 'c1' } });
    closers.push(() => ctx.close());
    await new Promise((r) => setTimeout(r, 500));
    expect(await redis.exists(stream, `${stream}:leader`)).toBe(0);

    ctx.start();
    const deadline = Date.now() + 5000;
    while ((await redis.exists(`${stream}:leader`)) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await redis.get(`${stream}:leader`)).toBe('c1');
  });

  it('a worker without Redis is refused naming the variable', async () => {
    const s = settings();
    await expect(createWorkerContext(s.config, s.secrets, { logger: silent })).rejects.toThrow(/^FINDGUARD_REDIS_URL: is required by findguard worker/);
  });
});

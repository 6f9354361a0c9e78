import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sqliteLockPath } from '../../src/db/node-lock.js';
import { createLogger } from '../../src/logger.js';
import { createService, type Service } from '../../src/main.js';
import { SeededRandom } from '../../src/util/random.js';
import { startTestService, type TestService } from '../helpers/service.js';

/**
 * Review ("no path ... another node answers for free"), the embedded default's form of
 * two-nodes-without-redis: two `findguard serve` processes on one data folder would each keep their
 * own in-memory buckets, so each account's budget would count twice. The node holding the folder's
 * single-node lock (src/db/node-lock.ts) keeps it for its life; a second one refuses to start and
 * says what to do instead; the lock goes with its holder, however the holder ends.
 */
describe('review: two serve processes on one SQLite data folder', () => {
  let first: TestService | undefined;
  let others: Service[] = [];
  let child: ChildProcess | undefined;

  afterEach(async () => {
    child?.kill('SIGKILL');
    child = undefined;
    for (const s of others) await s.close();
    others = [];
    await first?.stop();
    first = undefined;
  });

  const another = (svc: TestService, seed: number): Promise<Service> =>
    createService(svc.config, svc.secrets, { clock: svc.clock, random: new SeededRandom(seed), logger: createLogger('silent') });

  it('a second node with its limits in memory refuses to start while the first serves, and may start once it has stopped', async () => {
    first = await startTestService('sqlite');
    await expect(another(first, 1)).rejects.toThrow(/one process.*FINDGUARD_REDIS_URL/);
    expect((await first.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    await first.close();
    others.push(await another(first, 2));
    await expect(another(first, 3)).rejects.toThrow(/one process/);
  });

  it('a second node reaching the same database through a symlink is refused too', async () => {
    first = await startTestService('sqlite');
    const link = join(first.dataDir, 'linked.sqlite');
    symlinkSync(join(first.dataDir, 'findguard.sqlite'), link);
    try {
      const config = { ...first.config, database: { dialect: 'sqlite' as const, path: link } };
      // Awaited by hand: a service that did start is closed after the test, not printed by expect.
      const err = await createService(config, first.secrets, { clock: first.clock, random: new SeededRandom(6), logger: createLogger('silent') }).then(
        (s) => void others.push(s),
        (e: unknown) => e,
      );
      expect(String(err)).toMatch(/one process/);
    } finally {
      unlinkSync(link);
    }
  });

  it('the lock is held against another operating-system process, and ends when that process is killed', async () => {
    first = await startTestService('sqlite');
    const file = join(first.dataDir, 'findguard.sqlite');
    await first.close();
    // Another process holds the folder's lock the way a serving node does, then dies without a word.
    const script = `const S = require('better-sqlite3'); const d = new S(${JSON.stringify(sqliteLockPath(file))}); d.exec('BEGIN EXCLUSIVE'); console.log('held'); setInterval(() => {}, 1000);`;
    child = spawn(process.execPath, ['-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    expect(line.toString()).toContain('held');
    await expect(another(first, 4)).rejects.toThrow(/one process/);
    child.kill('SIGKILL');
    await once(child, 'exit');
    child = undefined;
    others.push(await another(first, 5));
  });

  it('an in-memory SQLite database takes no lock: it cannot be shared', async () => {
    first = await startTestService('sqlite', { databaseUrl: 'sqlite::memory:' });
    expect((await first.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});
